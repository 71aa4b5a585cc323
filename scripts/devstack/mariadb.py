"""A private, throwaway MariaDB server: its own data directory, socket and loopback port.

MariaDB speaks the MySQL protocol, so it stands in for the MySQL sidecar wherever no MySQL image can be
pulled. The root password is set for real, so every client goes through password authentication.
"""

import atexit
import contextlib
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import MySQLdb

from . import ROOT
from .ports import free_port
from .process import ServerProcess
from .tls import Certificates
from .wait import wait_until

SEED_SQL = ROOT / "scripts" / "sql" / "users-seed.sql"
REQUIRED_BINARIES = ("mariadb-install-db", "mariadbd", "mariadb")
# install-db creates one root account per way of connecting; each needs the password.
ROOT_HOSTS = ("localhost", "127.0.0.1", "::1")
# What mariadb-install-db wrote, once per process: it depends on no setting of a server, and copying it
# costs a fraction of running it again (the tests start about a dozen servers).
_installed: Path | None = None
_installing = threading.Lock()


class MariaDBMissing(RuntimeError):
    pass


def sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def find_binary(name: str) -> str:
    # mariadbd lives in /usr/sbin, which is not on every PATH.
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise MariaDBMissing(
            f"{name} not found: install the MariaDB server (Debian: apt-get install mariadb-server)"
        )
    return found


class MariaDBServer(ServerProcess):
    """Start with start(); stop(), kill() and start() again keep the same port, password and data.

    With `tls`, the server refuses any TCP client that does not use TLS (require_secure_transport), as a
    managed MySQL does; its own Unix socket, which sql() uses, counts as secure.
    """

    name = "MariaDB server"

    def __init__(
        self, password: str, port: int | None = None, seed: Path = SEED_SQL, tls: Certificates | None = None
    ) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="user-api-mariadb-"))
        super().__init__(port or free_port(), self._workdir / "mariadbd.log")
        self.password = password
        self.seed = seed
        self.host = "127.0.0.1"
        self.tls = tls
        self._binaries = {name: find_binary(name) for name in REQUIRED_BINARIES}
        self._datadir = self._workdir / "data"
        self._socket = self._workdir / "mysqld.sock"
        # Its own temporary directory: servers started side by side never share temporary-table files.
        self._tmpdir = self._workdir / "tmp"
        self._tmpdir.mkdir()
        self._initialised = False

    def command(self) -> list[str]:
        return [
            self._binaries["mariadbd"],
            "--no-defaults",
            "--user=root",  # as root, mariadbd refuses to start without it
            f"--datadir={self._datadir}",
            f"--socket={self._socket}",
            f"--tmpdir={self._tmpdir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            *self._tls_options(),
        ]

    def _tls_options(self) -> list[str]:
        if self.tls is None:
            return []
        return [
            f"--ssl-ca={self.tls.ca}",
            f"--ssl-cert={self.tls.cert}",
            f"--ssl-key={self.tls.key}",
            "--require-secure-transport=ON",
        ]

    def start(self, timeout: float = 30) -> "MariaDBServer":
        if not self._initialised:
            self._install()
        self.spawn(timeout)
        if not self._initialised:
            self._secure_and_seed()
            self._initialised = True
        return self

    def _install(self) -> None:
        shutil.copytree(self._installed_datadir(), self._datadir)

    def _installed_datadir(self) -> Path:
        global _installed
        with _installing:
            if _installed is None:
                template = Path(tempfile.mkdtemp(prefix="user-api-mariadb-installed-"))
                atexit.register(shutil.rmtree, template, ignore_errors=True)
                self._run(
                    self._binaries["mariadb-install-db"],
                    "--no-defaults",
                    f"--datadir={template / 'data'}",
                    f"--tmpdir={template}",
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                )
                _installed = template / "data"
        return _installed

    def _secure_and_seed(self) -> None:
        statements = [
            f"ALTER USER 'root'@{sql_string(host)} IDENTIFIED BY {sql_string(self.password)};"
            for host in ROOT_HOSTS
        ]
        self.sql("\n".join(statements), as_password=False)
        self.sql(self.seed.read_text())

    def sql(self, statements: str, as_password: bool = True) -> str:
        """Run SQL through the mariadb client on the private socket; returns its tab-separated output."""
        env = {"MYSQL_PWD": self.password} if as_password else {}
        return self._run(
            self._binaries["mariadb"],
            "--no-defaults",
            f"--socket={self._socket}",
            "--user=root",
            "--batch",
            "--skip-column-names",
            input=statements,
            env=env,
        )

    def _run(self, *command: str, input: str | None = None, env: dict | None = None) -> str:
        result = subprocess.run(
            command,
            input=input,
            env={"PATH": "/usr/bin:/bin", **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {result.stderr.strip()}")
        return result.stdout

    @contextlib.contextmanager
    def table_lock(self, table: str = "Users") -> Iterator[None]:
        """A second session holds LOCK TABLES <table> WRITE, as a long migration or backup would."""
        encrypted = {} if self.tls is None else {"ssl_mode": "REQUIRED"}
        session = MySQLdb.connect(
            host=self.host, port=self.port, user="root", password=self.password, database="Main", **encrypted
        )
        try:
            session.cursor().execute(f"LOCK TABLES `{table}` WRITE")
            yield
            session.cursor().execute("UNLOCK TABLES")
        finally:
            session.close()

    def lock_waiters(self) -> int:
        """How many sessions are waiting for a table lock right now."""
        count = self.sql(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE LIKE 'Waiting for table%'"
        )
        return int(count)

    def statements_running(self, fragment: str) -> list[str]:
        """The session ids of the other statements holding `fragment` that run right now."""
        pattern = sql_string(f"%{fragment}%")
        query = "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE "
        return self.sql(query + pattern).split()

    def wait_for_lock_waiters(self, count: int, timeout: float = 30) -> None:
        """Wait until at least `count` queries are blocked on a table lock (see table_lock)."""
        wait_until(lambda: self.lock_waiters() >= count, timeout, f"{count} queries waiting on the lock")

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> "MariaDBServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.remove()

    def env(self) -> dict[str, str]:
        """The API's settings for this server, as the Deployment would set them (with TLS: verified)."""
        verified = (
            {} if self.tls is None else {"MYSQL_SSL_MODE": "VERIFY_CA", "MYSQL_SSL_CA": str(self.tls.ca)}
        )
        return {
            "MYSQL_HOST": self.host,
            "MYSQL_PORT": str(self.port),
            "MYSQL_USER": "root",
            "MYSQL_PASSWORD": self.password,
            "MYSQL_DATABASE": "Main",
            **verified,
        }
