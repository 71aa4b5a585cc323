"""A server as a child process on a loopback port: started, waited for, stopped, its output kept."""

import subprocess
from pathlib import Path

from .ports import port_in_use, wait_for_port
from .wait import ExitedWhileWaiting


class ServerProcess:
    """Base of ApiProcess and MariaDBServer. start() may be called again after stop() or kill()."""

    name = "server"

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self._process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def spawn(self, timeout: float, show_output: bool = False, **popen) -> None:
        """Start command() and wait until it accepts connections on its port."""
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is already in use; cannot start the {self.name} there")
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                stdout=None if show_output else log,
                stderr=None if show_output else subprocess.STDOUT,
                # Its own session: Ctrl-C in a terminal goes to the supervisor, which stops it in order.
                start_new_session=True,
                **popen,
            )
        try:
            wait_for_port(self.port, timeout, alive=self.running)
        except (TimeoutError, ExitedWhileWaiting) as error:
            self.kill()
            raise RuntimeError(f"the {self.name} did not start: {error}\n{self.log_tail()}") from None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        return self._process.pid

    def send(self, signum: int) -> None:
        self._process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self._process.wait(timeout)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, as the kubelet sends it; SIGKILL only if the process outlives the timeout."""
        if self._process is None:
            return None
        if self.running():
            self._process.terminate()
            try:
                return self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.kill()

    def kill(self) -> int | None:
        """A crash: SIGKILL, no shutdown; open connections simply vanish."""
        if self._process is None:
            return None
        if self.running():
            self._process.kill()
        return self._process.wait()

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])
