"""Fixtures shared by every test: a real MariaDB server, the API as a real uvicorn process, and podman."""

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.api import ApiProcess
from devstack.mariadb import MariaDBServer
from devstack.tls import Certificates, make_certificates
from support import podman
from support.canary import DB_PASSWORD
from support.figures import FIGURES
from support.http import http_client


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FIGURES] = []


# `make test` runs the tests on parallel workers (pytest-xdist). Tests that share a setup too costly to
# repeat come in lanes, each kept on one worker: the Deployment's pods (one pod set, shared by its
# modules), the images and containers, and deploy.sh against the doubles (one default deploy, shared).
# The scheduler knows them by where they live: it sees test ids only. xdist hands out the scopes with
# the most tests first, so each lane starts at once on a worker of its own.
ENGINE_LANES = {
    "engine: pods": ("tests/k8s/test_pods.py", "tests/k8s/test_ingress_path.py"),
    "engine: images and containers": ("tests/container/",),
}
LANES = {**ENGINE_LANES, "deploy.sh": ("tests/scripts/test_deploy.py",)}
ENGINE_TESTS = tuple(path for paths in ENGINE_LANES.values() for path in paths)


def pytest_itemcollected(item: pytest.Item) -> None:
    if item.get_closest_marker("container") and not item.nodeid.startswith(ENGINE_TESTS):
        raise pytest.UsageError(f"{item.nodeid} uses podman: put it in one of {ENGINE_TESTS}")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    from xdist.scheduler import LoadScopeScheduling

    class Lanes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((lane for lane, paths in LANES.items() if nodeid.startswith(paths)), nodeid)

    return Lanes(config, log)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    # Measurements the tests took along the way (sizes, latencies, recovery times), shown on every run.
    if config.stash[FIGURES]:
        terminalreporter.section("figures")
        for line in config.stash[FIGURES]:
            terminalreporter.write_line(line)


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record one measured figure for the end-of-run summary."""
    return lambda text: request.config.stash[FIGURES].append(f"{request.node.name}: {text}")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    # A parallel worker has finished: its figures join the controller's summary.
    node.config.stash[FIGURES].extend(node.workeroutput.get("figures", []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # a parallel worker: the controller reports
        worker_output["figures"] = session.config.stash[FIGURES]
        return
    # Under CI a test that cannot run is a failure, never a quiet skip.
    skipped = session.config.pluginmanager.get_plugin("terminalreporter").stats.get("skipped", [])
    if os.environ.get("CI") == "true" and skipped:
        print(f"\nCI=true: {len(skipped)} test(s) skipped; under CI every test must run.")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    with MariaDBServer(DB_PASSWORD) as server:
        yield server


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA and the certificate it signs for a server on 127.0.0.1."""
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_mariadb(certificates: Certificates) -> Iterator[MariaDBServer]:
    """A server that accepts TLS clients only, as a managed MySQL does; its env() verifies its CA."""
    with MariaDBServer(DB_PASSWORD, tls=certificates) as server:
        yield server


@pytest.fixture(params=["plain", "tls"])
def any_mariadb(request: pytest.FixtureRequest) -> MariaDBServer:
    """The session's server without TLS, then the one with it: a test that takes this runs over both."""
    return request.getfixturevalue("mariadb" if request.param == "plain" else "tls_mariadb")


@pytest.fixture
def new_mariadb() -> Iterator[Callable[..., MariaDBServer]]:
    """Servers of the test's own, not started yet, for tests that stop, kill or lock them."""
    servers: list[MariaDBServer] = []

    def make(tls: Certificates | None = None) -> MariaDBServer:
        servers.append(MariaDBServer(DB_PASSWORD, tls=tls))
        return servers[-1]

    yield make
    for server in servers:
        server.remove()


@pytest.fixture
def start_api() -> Iterator[Callable[..., ApiProcess]]:
    """Start the API against a server with optional setting overrides; stopped after the test."""
    processes: list[ApiProcess] = []

    def start(database: MariaDBServer, **settings: str) -> ApiProcess:
        processes.append(ApiProcess({**database.env(), **settings}))
        return processes[-1].__enter__()

    yield start
    for process in processes:
        process.__exit__(None, None, None)  # stopped, and its log removed


@pytest.fixture(scope="session")
def api(mariadb: MariaDBServer) -> Iterator[ApiProcess]:
    with ApiProcess(mariadb.env()) as process:
        yield process


@pytest.fixture
def client(api: ApiProcess) -> Iterator[httpx.Client]:
    with http_client(base_url=api.base_url, timeout=10) as session:
        yield session


# The container engine, shared by tests/container (image, compose) and tests/k8s (pods).


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
    """The stand-in base, then, side by side, the API image (api/Dockerfile, unchanged) and the MySQL
    and ingress stand-ins, which all start from that base (see podman.build_test_images)."""
    request.config.stash[FIGURES].extend(podman.build_test_images())
