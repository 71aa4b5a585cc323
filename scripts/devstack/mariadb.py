"""A private, throwaway MariaDB server: its own data directory, socket and loopback port.

MariaDB speaks the MySQL protocol, so it stands in for the MySQL sidecar wherever no MySQL image can be
pulled. The root password is set for real, so every client goes through password authentication.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

from .ports import free_port, port_in_use, wait_for_port

SEED_SQL = Path(__file__).resolve().parents[1] / "sql" / "users-seed.sql"
REQUIRED_BINARIES = ("mariadb-install-db", "mariadbd", "mariadb")
# install-db creates one root account per way of connecting; each needs the password.
ROOT_HOSTS = ("localhost", "127.0.0.1", "::1")


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


class MariaDBServer:
    """Start with start(); stop(), kill() and start() again keep the same port, password and data."""

    def __init__(self, password: str, port: int | None = None, seed: Path = SEED_SQL) -> None:
        self.password = password
        self.port = port or free_port()
        self.seed = seed
        self.host = "127.0.0.1"
        self._binaries = {name: find_binary(name) for name in REQUIRED_BINARIES}
        self._workdir = Path(tempfile.mkdtemp(prefix="user-api-mariadb-"))
        self._datadir = self._workdir / "data"
        self._socket = self._workdir / "mysqld.sock"
        self._log = self._workdir / "mariadbd.log"
        self._process: subprocess.Popen | None = None
        self._initialised = False

    def start(self, timeout: float = 30) -> "MariaDBServer":
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is already in use; cannot start MariaDB there")
        if not self._initialised:
            self._install()
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self._binaries["mariadbd"],
                    "--no-defaults",
                    "--user=root",  # as root, mariadbd refuses to start without it
                    f"--datadir={self._datadir}",
                    f"--socket={self._socket}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    "--skip-name-resolve",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal goes to the supervisor, which stops us
            )
        try:
            wait_for_port(self.port, timeout, is_alive=self.running)
        except (TimeoutError, RuntimeError) as error:
            raise RuntimeError(f"MariaDB did not start: {error}\n{self.log_tail()}") from None
        if not self._initialised:
            self._secure_and_seed()
            self._initialised = True
        return self

    def _install(self) -> None:
        self._run(
            self._binaries["mariadb-install-db"],
            "--no-defaults",
            f"--datadir={self._datadir}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        )

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

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """A clean shutdown, as when the sidecar container is stopped."""
        if self.running():
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown, open connections simply vanish."""
        if self.running():
            self._process.kill()
            self._process.wait()

    def log_tail(self, lines: int = 20) -> str:
        if not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> "MariaDBServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.remove()

    def env(self) -> dict[str, str]:
        """The API's settings for this server, as the Deployment would set them."""
        return {
            "MYSQL_HOST": self.host,
            "MYSQL_PORT": str(self.port),
            "MYSQL_USER": "root",
            "MYSQL_PASSWORD": self.password,
            "MYSQL_DATABASE": "Main",
        }
