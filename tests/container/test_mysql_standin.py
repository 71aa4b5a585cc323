"""The MySQL stand-in behaves like the official image where the project relies on it, and fails where
the official image fails (docker-library/mysql 8.0's Dockerfile and docker-entrypoint.sh, 8.0.25)."""

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import MySQLdb
import pytest
import yaml

from devstack import ROOT
from devstack.ports import free_port
from devstack.wait import wait_until
from k8s.manifests import container, load
from support import podman
from support.podman import MYSQL_STANDIN

pytestmark = pytest.mark.container

# Characters URLs choke on, and none that the official entrypoint cannot take (' " \ line breaks).
PASSWORD = "standin-pw@:/x"
MANIFESTS = load()
DB = container(MANIFESTS, "db")
# The Deployment's db probe and compose's db healthcheck, as committed.
PROBE = DB["readinessProbe"]["exec"]["command"]
HEALTHCHECK = yaml.safe_load((ROOT / "compose.yml").read_text())["services"]["db"]["healthcheck"]["test"]
SOCKET_PING = ["sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysqladmin ping --user=root']


@dataclass
class StandIn:
    name: str
    port: int

    def logs(self) -> str:
        result = podman.podman("logs", self.name)
        return result.stdout + result.stderr

    def run(self, command: list[str], user: str | None = None) -> int:
        as_user = ("--user", user) if user else ()
        return podman.podman("exec", *as_user, self.name, *command, check=False).returncode

    def main_process(self, field: str) -> list[str]:
        """A field of /proc/1/status: the server's, once the entrypoint has exec'd it."""
        status = podman.podman("exec", self.name, "grep", f"^{field}:", "/proc/1/status").stdout
        return status.split()[1:]

    def owner(self, path: str) -> str:
        return podman.podman("exec", self.name, "stat", "-c", "%U:%G", path).stdout.strip()

    def restart(self) -> None:
        podman.podman("stop", "--time", "20", self.name)
        podman.podman("start", self.name)


def as_command(healthcheck: list[str]) -> list[str]:
    """A compose healthcheck test as the command the engine runs ($$ is compose's escaped $)."""
    kind, *rest = healthcheck
    return ["sh", "-c", rest[0].replace("$$", "$")] if kind == "CMD-SHELL" else rest


def connect(port: int, password: str) -> MySQLdb.Connection:
    return MySQLdb.connect(host="127.0.0.1", port=port, user="root", password=password, connect_timeout=2)


def wait_for_container(condition: Callable[[], object], what: str) -> None:
    """Until a condition that asks podman holds (each ask costs CPU: see podman.POLL_INTERVAL)."""
    wait_until(condition, 60, what, interval=podman.POLL_INTERVAL)


def wait_for_server(port: int, password: str = PASSWORD) -> MySQLdb.Connection:
    return wait_until(
        lambda: connect(port, password),
        90,
        f"the stand-in answers on 127.0.0.1:{port}",
        interval=0.2,
        ignore=(MySQLdb.OperationalError,),
    )


@pytest.fixture(scope="module")
def start(images) -> Iterator[Callable[..., StandIn]]:
    """Start stand-in containers (detached, 3306 published on a free loopback port); removed afterwards."""
    started: list[str] = []

    def run(
        *args: str,
        password: str | None = PASSWORD,
        mounts: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        options: tuple[str, ...] = (),
    ) -> StandIn:
        standin = StandIn(f"mysql-standin-{secrets.token_hex(4)}", free_port())
        started.append(standin.name)
        run_options = ["-d", "--name", standin.name, "-p", f"127.0.0.1:{standin.port}:3306", *options]
        run_options += ["-e", f"MYSQL_ROOT_PASSWORD={password}"] if password is not None else []
        run_options += [option for name, value in (env or {}).items() for option in ("-e", f"{name}={value}")]
        run_options += [option for mount in mounts for option in ("-v", mount)]
        podman.podman("run", *run_options, MYSQL_STANDIN, *args)
        return standin

    yield run
    if started:
        # -v: the image's anonymous /var/lib/mysql volume goes too.
        podman.podman("rm", "-f", "-v", *started, check=False, timeout=120)


def exit_status(standin: StandIn) -> int:
    """Wait until the container stops by itself (a failed initialisation); its exit status."""
    return int(podman.podman("wait", standin.name, timeout=180).stdout.strip())


@pytest.fixture(scope="module")
def standin(start) -> StandIn:
    """One default stand-in (no options: every interface, as compose runs it) for the tests that only read."""
    running = start()
    wait_for_server(running.port).close()
    return running


def test_it_is_seeded_over_tcp_with_the_root_password(standin):
    with connect(standin.port, PASSWORD) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM Main.Users")
        assert cursor.fetchone() == (100, 1, 100)
    with pytest.raises(MySQLdb.OperationalError) as refused:
        connect(standin.port, "wrong")
    assert refused.value.args[0] == 1045  # access denied
    assert "running /docker-entrypoint-initdb.d/10-users-seed.sql" in standin.logs()


# What follows mirrors docker-library/mysql's 8.0 Dockerfile and docker-entrypoint.sh (8.0.25): the
# image's mysql user, its directories, and the entrypoint's two paths, as root and as any other user.


def test_the_deployment_runs_db_as_the_images_mysql_user_whose_directories_anyone_may_write(images):
    # The official Dockerfile: `groupadd -r mysql && useradd -r -g mysql mysql` (999:999 on Debian),
    # then /var/lib/mysql and /var/run/mysqld owned by mysql with mode 1777.
    image = podman.podman(
        "run",
        "--rm",
        MYSQL_STANDIN,
        "sh",
        "-c",
        "id -u mysql; id -g mysql; stat -c '%U:%G %a' /var/lib/mysql /var/run/mysqld",
    )
    uid, gid, *directories = image.stdout.splitlines()
    declared = DB["securityContext"]
    assert (int(uid), int(gid)) == (declared["runAsUser"], declared["runAsGroup"])
    assert int(gid) == MANIFESTS["Deployment"]["spec"]["template"]["spec"]["securityContext"]["fsGroup"]
    assert directories == ["mysql:mysql 1777", "mysql:mysql 1777"]


def test_started_as_root_it_steps_down_to_mysql_before_anything_else(standin):
    assert "Switching to dedicated user 'mysql'" in standin.logs()
    uid, gid = DB["securityContext"]["runAsUser"], DB["securityContext"]["runAsGroup"]
    assert standin.main_process("Uid") == [str(uid)] * 4
    assert standin.main_process("Gid") == [str(gid)] * 4
    assert standin.main_process("CapEff") == ["0000000000000000"]  # root's capabilities went with it
    assert standin.owner("/var/lib/mysql/mysql") == "mysql:mysql"  # initialised as mysql


def test_started_as_root_it_gives_the_mysql_user_what_in_the_datadir_is_not_its(start):
    running = start()
    wait_for_server(running.port).close()
    assert running.run(["touch", "/var/lib/mysql/left-by-root"]) == 0
    running.restart()
    wait_for_server(running.port).close()
    # `find DATADIR ! -user mysql -exec chown mysql`: the user changes, the group does not.
    assert running.owner("/var/lib/mysql/left-by-root") == "mysql:root"


@pytest.mark.parametrize("user", ["999:999", "4242:4242"], ids=["as mysql", "as any other user"])
def test_started_as_another_user_it_runs_as_that_user_and_changes_no_owner(start, user):
    running = start(options=("--user", user))
    wait_for_server(running.port).close()
    assert "Switching to dedicated user" not in running.logs()
    assert running.main_process("Uid")[0] == user.split(":")[0]
    assert running.run(["touch", "/var/lib/mysql/left-by-root"], user="root") == 0
    # Were it to try the chown it does as root, it would fail here and stop.
    running.restart()
    wait_for_server(running.port).close()
    assert running.owner("/var/lib/mysql/left-by-root") == "root:root"


@pytest.mark.parametrize("read_only", ["/var/run/mysqld", "/tmp"])
def test_with_a_read_only_root_it_needs_its_socket_directory_and_tmp_writable(start, read_only):
    # The Deployment's db: run as mysql, read-only root, a volume for the data and writable
    # /var/run/mysqld (socket, pid file) and /tmp (mysqld's temporary files; the real entrypoint's
    # bash 5.0 also writes its here-documents there). Without either one the server does not start.
    writable = [path for path in ("/var/run/mysqld", "/tmp") if path != read_only]
    user = f"{DB['securityContext']['runAsUser']}:{DB['securityContext']['runAsGroup']}"
    tmpfs = [option for path in writable for option in ("--tmpfs", f"{path}:mode=1777")]
    stopped = start(options=("--user", user, "--read-only", "--read-only-tmpfs=false", *tmpfs))
    assert exit_status(stopped) != 0
    assert "Read-only file system" in stopped.logs()


def test_MYSQL_DATABASE_is_created_when_missing_and_init_files_run_in_it(start, tmp_path):
    # As docker-library/mysql 8.0's entrypoint: "Creating database NAME", then every *.sql (and what a
    # sourced *.sh sends through docker_process_sql) runs with that database selected.
    init = {
        "20-no-use.sql": "CREATE TABLE from_sql (id INT);\n",
        "30-sourced.sh": 'docker_process_sql <<<"CREATE TABLE from_sourced_sh (id INT);"\n',
    }
    mounts = []
    for name, text in init.items():
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o644)
        mounts.append(f"{tmp_path / name}:/docker-entrypoint-initdb.d/{name}:ro")
    running = start(mounts=tuple(mounts), env={"MYSQL_DATABASE": "Shop"})
    with wait_for_server(running.port) as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'Shop' ORDER BY TABLE_NAME"
        )
        assert cursor.fetchall() == (("from_sourced_sh",), ("from_sql",))
        cursor.execute("SELECT COUNT(*) FROM Main.Users")  # the seed names its own database
        assert cursor.fetchone() == (100,)
    logs = running.logs()
    assert "Creating database Shop" in logs
    assert logs.index("Creating database Shop") < logs.index("20-no-use.sql")


def test_root_over_loopback_needs_the_password_as_in_the_official_image(standin):
    # In a Pod the API connects from 127.0.0.1; that login must go through the password too.
    login = "mariadb --protocol=tcp --host=127.0.0.1 --user=root --batch --skip-column-names -e 'SELECT 1'"
    with_password = podman.podman(
        "exec", standin.name, "sh", "-c", f'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" {login}', check=False
    )
    assert with_password.stdout.strip() == "1", with_password.stderr
    assert standin.run(["sh", "-c", login]) != 0
    accounts = podman.podman(
        "exec",
        standin.name,
        "sh",
        "-c",
        'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mariadb -uroot -N '
        "-e \"SELECT CONCAT(User, '@', Host) FROM mysql.global_priv WHERE User = 'root' ORDER BY Host\"",
    )
    assert accounts.stdout.split() == ["root@%", "root@localhost"]


def test_with_the_deployments_options_only_a_tcp_ping_tells_when_initialisation_is_over(start, tmp_path):
    # An init script holds the entrypoint in its socket-only temporary server until the test lets go.
    hold = tmp_path / "05-hold.sh"
    hold.write_text("for _ in $(seq 1200); do [ -e /tmp/go-on ] && break; sleep 0.1; done\n")
    hold.chmod(0o644)
    running = start(*DB["args"], mounts=(f"{hold}:/docker-entrypoint-initdb.d/05-hold.sh:ro",))
    wait_for_container(lambda: "05-hold.sh" in running.logs(), "the entrypoint reaches the init script")
    assert running.run(SOCKET_PING) == 0  # the temporary server is up
    assert running.run(PROBE) != 0
    assert running.run(as_command(HEALTHCHECK)) != 0
    assert running.run(["touch", "/tmp/go-on"]) == 0
    wait_for_container(lambda: running.run(PROBE) == 0, "the db probe passes once the real server listens")
    assert running.run(as_command(HEALTHCHECK)) == 0
    # The options reached the server: it listens on loopback only, and dropped what MariaDB lacks.
    bind = 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mariadb -uroot -N -e "SELECT @@bind_address"'
    assert podman.podman("exec", running.name, "sh", "-c", bind).stdout.strip() == "127.0.0.1"
    assert "--mysqlx=OFF: MariaDB has no X Plugin" in running.logs()


def test_an_option_the_server_does_not_know_stops_it_naming_the_option(start):
    stopped = start("--no-such-option=1")
    assert exit_status(stopped) != 0
    assert "no-such-option" in stopped.logs()


def test_without_a_root_password_it_refuses_to_initialise(start):
    stopped = start(password=None)
    assert exit_status(stopped) != 0
    assert "MYSQL_ROOT_PASSWORD" in stopped.logs()


# The official entrypoint pastes the password unescaped into SQL (IDENTIFIED BY '...') and into a
# client option file (password="...") that every later step logs in with, the seed scripts and the
# temporary server's shutdown included.
@pytest.mark.parametrize(
    ("password", "error"),
    [
        ("it's", "ERROR 1064"),  # the ' ends the SQL string: a syntax error, initialisation stops
        ('pa"ss#word', "ERROR 1045"),  # the option file reads `"pa"ss`: the seed's login is refused
        ("back\\slash", "ERROR 1045"),  # SQL stores `backslash`, the option file reads `back lash`
        ("line\nbreak", "unknown option '--break\"'"),  # the option file's second line is no option
    ],
)
def test_a_password_that_breaks_the_official_entrypoint_stops_initialisation(start, password, error):
    stopped = start(password=password)
    assert exit_status(stopped) != 0
    logs = stopped.logs()
    assert error in logs and "Ready for start up" not in logs


def test_a_backslash_makes_the_server_store_another_password_than_the_api_sends(start):
    # SQL reads \\ as one \, and so does the option file: initialisation succeeds with `back\slash`.
    running = start(password="back\\\\slash")
    wait_for_server(running.port, "back\\slash").close()
    with pytest.raises(MySQLdb.OperationalError) as refused:
        connect(running.port, "back\\\\slash")  # what the API sends: the Secret's value
    assert refused.value.args[0] == 1045


def test_a_restart_after_a_failed_initialisation_serves_the_half_initialised_data(start):
    # The data directory survives (an emptyDir survives a container restart too): the entrypoint sees
    # it and starts the server without initialising, so the password it never set is refused.
    stopped = start(password="it's")
    assert exit_status(stopped) != 0
    podman.podman("start", stopped.name)

    def since_the_restart() -> str:
        return stopped.logs().split("ERROR 1064")[-1]

    wait_for_container(lambda: "ready for connections" in since_the_restart(), "the server starts again")
    assert "Initializing database files" not in since_the_restart()
    with pytest.raises(MySQLdb.OperationalError) as refused:
        connect(stopped.port, "it's")
    assert refused.value.args[0] in (1045, 1130)  # access denied, or no such account for this host
