"""A real container engine (podman) with the project's image and the stand-ins built once per session."""

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import podman
from support.figures import FIGURES


@pytest.fixture(scope="session")
def engine() -> Iterator[None]:
    with tempfile.TemporaryDirectory(prefix="podman-conf-") as workdir:
        try:
            podman.prepare_engine(Path(workdir))
        except podman.PodmanUnavailable as error:
            pytest.fail(f"{error}. To run only the fast suite: make test-fast", pytrace=False)
        yield


@pytest.fixture(scope="session")
def images(engine, request: pytest.FixtureRequest) -> None:
    """The stand-in base, the API image built from api/Dockerfile unchanged, and the MySQL stand-in."""
    for build in (podman.build_python_base, podman.build_api_image, podman.build_mysql_standin):
        started = time.monotonic()
        build()
        request.config.stash[FIGURES].append(
            f"images: {build.__name__} took {time.monotonic() - started:.1f} s"
        )
