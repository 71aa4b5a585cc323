"""Image archives for the TEST DOUBLES of the tools that load or save images (docker, kind, k3s, k3d,
minikube): reading the names in the archives that `docker save` and `podman save` write, and writing a
minimal one.
"""

import io
import json
import tarfile


def archive_tags(data: bytes) -> list[str]:
    """The image names in a docker-archive (manifest.json) or OCI layout (index.json) tarball.

    Raises ValueError when the bytes are no image archive: a load that got one would fail the same way.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            names = archive.getnames()
            if "manifest.json" in names:
                manifest = json.load(archive.extractfile("manifest.json"))
                return [tag for image in manifest for tag in image.get("RepoTags") or []]
            if "index.json" in names:
                index = json.load(archive.extractfile("index.json"))
                return [
                    entry["annotations"].get("io.containerd.image.name")
                    or entry["annotations"]["org.opencontainers.image.ref.name"]
                    for entry in index.get("manifests", [])
                    if entry.get("annotations")
                ]
    except (tarfile.TarError, KeyError, json.JSONDecodeError) as error:
        raise ValueError(f"not an image archive: {error}") from error
    raise ValueError("not an image archive: no manifest.json or index.json")


def image_archive(tags: list[str]) -> bytes:
    """A minimal docker-archive naming `tags`, as `docker save` writes one (without real layers)."""
    manifest = json.dumps([{"Config": "config.json", "RepoTags": tags, "Layers": []}]).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in (("manifest.json", manifest), ("config.json", b"{}")):
            entry = tarfile.TarInfo(name)
            entry.size = len(content)
            archive.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()
