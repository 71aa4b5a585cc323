"""compose.yml, brought up with docker-compose against podman's Docker-compatible API.

Two things here stand in for what Docker would do by itself, and are named as such:
- the db image is the MySQL stand-in (DB_IMAGE), and the api image is built by podman beforehand
  (API_IMAGE) because builds through the compatibility API cannot get the proxy's CA mount;
- podman runs healthchecks from systemd timers, and there is no systemd here, so HealthcheckTimer runs
  each container's own healthcheck command every second, as Docker's engine would.
"""

import json
import os
import subprocess
import threading
from datetime import datetime

import pytest
import yaml

from devstack import ROOT
from devstack.ports import free_port
from devstack.wait import wait_until
from support import podman
from support.http import http_get, wait_for_status
from support.podman import API_IMAGE, MYSQL_STANDIN

pytestmark = pytest.mark.container

PASSWORD = "compose-pw@:/canary"


def compose(
    project: str, *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker-compose", "-p", project, "-f", str(ROOT / "compose.yml"), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def project_containers(project: str) -> list[str]:
    listed = podman.podman(
        "ps", "-a", "--format", "{{.Names}}", "--filter", f"label=com.docker.compose.project={project}"
    )
    return listed.stdout.split()


class HealthcheckTimer(threading.Thread):
    """Stand-in for the engine's healthcheck timer: runs `podman healthcheck run` on each container."""

    def __init__(self, project: str):
        super().__init__(daemon=True)
        self._project = project
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(1):
            for name in project_containers(self._project):
                podman.podman("healthcheck", "run", name, check=False, timeout=30)

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)


@pytest.fixture(scope="module")
def docker_api(engine, tmp_path_factory):
    """podman's Docker-compatible API on a private socket, for docker-compose."""
    try:
        podman.check_container_dns()
    except podman.PodmanUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    socket_path = tmp_path_factory.mktemp("podman-api") / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(socket_path.exists, 30, "podman system service creates its socket")
        yield f"unix://{socket_path}"
    finally:
        service.terminate()
        service.wait(15)


def parse_time(stamp: str) -> datetime:
    # podman prints nanoseconds and a zone ("2026-11-28T04:47:44.123456789Z" or "... +0000 UTC").
    stamp = stamp.replace(" UTC", "").strip()
    head, _, rest = stamp.partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6] or "0"
    zone = rest.lstrip("0123456789").strip() or "Z"
    return datetime.fromisoformat(f"{head}.{fraction}{'+00:00' if zone in ('Z', '') else zone}")


def first_healthy_at(container: str) -> datetime:
    state = podman.podman("inspect", container, "--format", "json").stdout
    health = json.loads(state)[0]["State"]["Health"]
    passed = [parse_time(entry["End"]) for entry in health["Log"] if entry["ExitCode"] == 0]
    assert passed, "db never passed its healthcheck"
    return min(passed)


def started_at(container: str) -> datetime:
    return parse_time(podman.podman("inspect", container, "--format", "{{.State.StartedAt}}").stdout)


def test_compose_file_is_valid_and_demands_a_password():
    with_password = compose("check", "config", "-q", env={"MYSQL_PASSWORD": "x"}, timeout=60)
    assert with_password.returncode == 0, with_password.stderr
    environment = {key: value for key, value in os.environ.items() if key != "MYSQL_PASSWORD"}
    without = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "compose.yml"), "config", "-q"],
        cwd="/",
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert without.returncode != 0
    assert "set MYSQL_PASSWORD in .env" in without.stderr


def test_env_example_is_committed_and_env_is_ignored():
    assert (ROOT / ".env.example").read_text().count("MYSQL_PASSWORD=") == 1
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0


def test_up_serves_the_api_after_db_is_healthy_and_down_leaves_nothing(images, docker_api, figure):
    project = f"userapi{os.getpid()}"
    api_port = free_port()
    env = {
        "DOCKER_HOST": docker_api,
        "MYSQL_PASSWORD": PASSWORD,
        "DB_IMAGE": MYSQL_STANDIN,
        "API_IMAGE": API_IMAGE,
        "API_PORT": str(api_port),
        "COMPOSE_HTTP_TIMEOUT": "300",
    }
    timer = HealthcheckTimer(project)
    timer.start()
    try:
        up = compose(project, "up", "-d", env=env)
        assert up.returncode == 0, up.stderr
        base = f"http://127.0.0.1:{api_port}"
        wait_for_status(f"{base}/ready", within=60)
        assert http_get(f"{base}/status").text == "1"
        users = http_get(f"{base}/users").json()
        assert len(users) == 100
        assert http_get(f"{base}/users/1").json()["user_id"] == 1

        db, api = f"{project}_db_1", f"{project}_api_1"
        # MySQL came up as compose's db user, on the image's own volume, with a read-only root.
        declared_user = yaml.safe_load((ROOT / "compose.yml").read_text())["services"]["db"]["user"]
        uids = podman.podman("exec", db, "grep", "^Uid:", "/proc/1/status").stdout.split()[1:]
        assert uids == [declared_user.split(":")[0]] * 4
        healthy, api_started = first_healthy_at(db), started_at(api)
        figure(f"db first healthy at {healthy.isoformat()}, api started at {api_started.isoformat()}")
        assert api_started > healthy
    finally:
        timer.stop()
        down = compose(project, "down", "--volumes", env=env)
    assert down.returncode == 0, down.stderr
    assert project_containers(project) == []
    networks = podman.podman("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert not [name for name in networks if name.startswith(project)]
