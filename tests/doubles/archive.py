"""Image archives for the TEST DOUBLES of the tools that load or save images (docker, kind, k3s, k3d,
minikube): reading the names in the archives that `docker save` and `podman save` write, writing a
minimal one, and loading one as kind, k3d and minikube do.
"""

import io
import json
import tarfile
from pathlib import Path

from record import fail, record


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


def load_image_archive(
    tool: str, args: list[str], verb: list[str], value_options: set[str], error: str
) -> int:
    """`TOOL VERB... FILE`, with any of `value_options` and its value anywhere: reads the archive as the
    real command would, and records the image names in it with the call (record.py). Anything else fails
    as the tool does, its message starting with `error`."""
    words, rest = [], iter(args)
    for arg in rest:
        if arg in value_options:
            next(rest, None)  # the option's value: a cluster or profile name
        else:
            words.append(arg)
    if words[: len(verb)] != verb or len(words) != len(verb) + 1:
        record(tool, args)
        return fail(tool, f"unsupported call {args}")
    try:
        tags = archive_tags(Path(words[-1]).read_bytes())
    except (OSError, ValueError) as problem:
        record(tool, args)
        return fail(tool, f"{error}: {problem}")
    record(tool, args, images=tags)
    return 0
