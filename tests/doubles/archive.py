"""Image archives for the TEST DOUBLES of the tools that save or load images (docker; k3s, kind, minikube):
a minimal docker-archive as `docker save` writes one, and loading one as the cluster tools do."""

import io
import json
import tarfile

from record import fail, record


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
    """`TOOL VERB... FILE`, with any of `value_options` and its value anywhere: reads the docker-archive (the
    format `docker save` and `podman save` write) and records the image names in it with the call. Anything
    else fails as the tool does, its message starting with `error`."""
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
        with tarfile.open(words[-1]) as archive:
            manifest = json.load(archive.extractfile("manifest.json"))
    except (OSError, tarfile.TarError, KeyError, json.JSONDecodeError) as problem:
        record(tool, args)
        return fail(tool, f"{error}: not an image archive: {problem}")
    record(tool, args, images=[tag for image in manifest for tag in image.get("RepoTags") or []])
    return 0
