"""The API as its own process: `uvicorn main:server`, the command the image runs."""

import os
import sys
import tempfile
from pathlib import Path

from . import ROOT
from .ports import free_port
from .process import ServerProcess

API_DIR = ROOT / "api"


class ApiProcess(ServerProcess):
    name = "API"

    def __init__(
        self,
        env: dict[str, str],
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        show_output: bool = False,
        app_dir: Path = API_DIR,
    ):
        descriptor, log_path = tempfile.mkstemp(prefix="user-api-", suffix=".log")
        os.close(descriptor)  # reopened for each start
        super().__init__(port or free_port(), Path(log_path))
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._extra_args = extra_args
        self._show_output = show_output
        self._app_dir = app_dir

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
        # Only what the service needs: a clean environment shows that nothing else leaks in.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self._env}
        self.spawn(timeout, show_output=self._show_output, cwd=self._app_dir, env=env)
        return self

    def __enter__(self) -> "ApiProcess":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)
