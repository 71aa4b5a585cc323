"""The MySQL stand-in keeps the official image's contract that compose.yml and the Deployment rely on."""

import time

import MySQLdb
import pytest

from devstack.ports import free_port
from support import podman
from support.podman import MYSQL_STANDIN

pytestmark = pytest.mark.container

PASSWORD = "standin'pw@:/x"


def connect(port: int, password: str) -> MySQLdb.Connection:
    return MySQLdb.connect(host="127.0.0.1", port=port, user="root", password=password, connect_timeout=2)


def wait_for_server(port: int, timeout: float = 90) -> MySQLdb.Connection:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect(port, PASSWORD)
        except MySQLdb.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def standin(images):
    port = free_port()
    container = podman.podman(
        "run", "-d", "-e", f"MYSQL_ROOT_PASSWORD={PASSWORD}", "-p", f"127.0.0.1:{port}:3306", MYSQL_STANDIN
    ).stdout.strip()
    yield port, container
    podman.podman("rm", "-f", container, check=False)


def test_it_is_seeded_over_tcp_with_the_root_password(standin):
    port, container = standin
    with wait_for_server(port) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM Main.Users")
        assert cursor.fetchone() == (100, 1, 100)
    with pytest.raises(MySQLdb.OperationalError) as refused:
        connect(port, "wrong")
    assert refused.value.args[0] == 1045  # access denied
    logs = podman.podman("logs", container).stdout
    assert "running /docker-entrypoint-initdb.d/10-users-seed.sql" in logs


def test_during_initialisation_only_a_tcp_ping_tells_the_truth(images, tmp_path):
    # An init script that takes a while keeps the entrypoint in its socket-only temporary server.
    slow = tmp_path / "05-slow.sh"
    slow.write_text("sleep 8\n")
    slow.chmod(0o644)
    tcp_ping = 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysqladmin ping --host=127.0.0.1 --port=3306 --silent'
    socket_ping = 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysqladmin ping --silent'
    container = podman.podman(
        "run",
        "-d",
        "-e",
        f"MYSQL_ROOT_PASSWORD={PASSWORD}",
        "-v",
        f"{slow}:/docker-entrypoint-initdb.d/05-slow.sh:ro",
        MYSQL_STANDIN,
    ).stdout.strip()
    try:
        deadline = time.monotonic() + 60
        while "running /docker-entrypoint-initdb.d/05-slow.sh" not in podman.podman("logs", container).stdout:
            assert time.monotonic() < deadline, "the init script never started"
            time.sleep(0.2)
        assert podman.podman("exec", container, "sh", "-c", socket_ping, check=False).returncode == 0
        assert podman.podman("exec", container, "sh", "-c", tcp_ping, check=False).returncode != 0
        deadline = time.monotonic() + 60
        while podman.podman("exec", container, "sh", "-c", tcp_ping, check=False).returncode != 0:
            assert time.monotonic() < deadline, "the real server never answered over TCP"
            time.sleep(0.5)
    finally:
        podman.podman("rm", "-f", container, check=False)


def test_root_over_loopback_needs_the_password_as_in_the_official_image(standin):
    # In a Pod the API connects from 127.0.0.1; that login must go through the password too.
    port, container = standin
    wait_for_server(port).close()
    login = "mariadb --protocol=tcp --host=127.0.0.1 --user=root --batch --skip-column-names -e 'SELECT 1'"
    with_password = podman.podman(
        "exec", container, "sh", "-c", f'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" {login}', check=False
    )
    assert with_password.stdout.strip() == "1", with_password.stderr
    assert podman.podman("exec", container, "sh", "-c", login, check=False).returncode != 0
    accounts = podman.podman(
        "exec",
        container,
        "sh",
        "-c",
        'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mariadb -uroot -N '
        "-e \"SELECT CONCAT(User, '@', Host) FROM mysql.global_priv WHERE User = 'root' ORDER BY Host\"",
    )
    assert accounts.stdout.split() == ["root@%", "root@localhost"]


def test_without_a_root_password_it_refuses_to_initialise(images):
    result = podman.podman("run", "--rm", MYSQL_STANDIN, check=False, timeout=120)
    assert result.returncode != 0
    assert "MYSQL_ROOT_PASSWORD" in result.stdout + result.stderr
