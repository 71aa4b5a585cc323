"""The API as its own process: `uvicorn main:server`, the command the image runs."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .ports import free_port, port_in_use, wait_for_port

API_DIR = Path(__file__).resolve().parents[2] / "api"


class ApiProcess:
    def __init__(
        self,
        env: dict[str, str],
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        show_output: bool = False,
        app_dir: Path = API_DIR,
    ):
        self.port = port or free_port()
        self._show_output = show_output
        self._app_dir = app_dir
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._extra_args = extra_args
        descriptor, log_path = tempfile.mkstemp(prefix="user-api-", suffix=".log")
        os.close(descriptor)  # reopened for each start
        self._log = Path(log_path)
        self._process: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "main:server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self._extra_args,
        ]

    def start(self, timeout: float = 20) -> "ApiProcess":
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is already in use; cannot serve the API there")
        # Only what the service needs: a clean environment shows that nothing else leaks in.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self._env}
        with self._log.open("ab") as log:
            output = None if self._show_output else log
            self._process = subprocess.Popen(
                self.command,
                cwd=self._app_dir,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for_port(self.port, timeout, is_alive=self.running)
        except (TimeoutError, RuntimeError) as error:
            self.stop()
            raise RuntimeError(f"the API did not start: {error}\n{self.logs()}") from None
        return self

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        return self._process.pid

    def send(self, signum: int) -> None:
        self._process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self._process.wait(timeout)

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, as the kubelet sends it; SIGKILL only if the process outlives the timeout."""
        if self._process is None:
            return None
        if self.running():
            self.send(signal.SIGTERM)
            try:
                return self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
        return self._process.wait()

    def logs(self) -> str:
        return self._log.read_text(errors="replace")

    def __enter__(self) -> "ApiProcess":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
        self._log.unlink(missing_ok=True)
