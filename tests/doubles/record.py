"""Shared by the TEST DOUBLES in this folder (kubectl, docker, kind, k3s, minikube): the call log that the
tests read, and reading the image archives that `docker save` and `podman save` write.

Every call is appended to the file named by DOUBLES_LOG as one JSON object per line:
  {"tool": "kind", "args": ["load", "image-archive", ...], ...details}
"""

import io
import json
import os
import sys
import tarfile


def record(tool: str, args: list[str], **details) -> None:
    if "DOUBLES_LOG" in os.environ:
        with open(os.environ["DOUBLES_LOG"], "a") as log:
            log.write(json.dumps({"tool": tool, "args": args, **details}) + "\n")


def fail(tool: str, message: str) -> int:
    print(f"{tool} test double: {message}", file=sys.stderr)
    return 1


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
