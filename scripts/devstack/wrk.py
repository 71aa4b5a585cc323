"""wrk, the HTTP load generator, run once and its report read into numbers (bench.py and the load test)."""

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


class WrkMissing(RuntimeError):
    pass


@dataclass
class Run:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    output: str

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * UNITS[unit]


def parse(output: str) -> Run:
    def number(pattern: str, default: str = "0") -> str:
        found = re.search(pattern, output)
        return found.group(1) if found else default

    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return Run(
        requests_per_second=float(number(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=milliseconds(number(r"\n\s+50%\s+(\S+)", "0us")),
        p99_ms=milliseconds(number(r"\n\s+99%\s+(\S+)", "0us")),
        requests=int(number(r"(\d+) requests in")),
        non_2xx=int(number(r"Non-2xx or 3xx responses: (\d+)")),
        socket_errors=sum(map(int, socket_errors.groups())) if socket_errors else 0,
        output=output,
    )


def require_wrk() -> None:
    if not shutil.which("wrk"):
        raise WrkMissing("wrk not found: install it (Debian: apt-get install wrk)")


def wrk(url: str, seconds: float, connections: int, script: Path | None = None, timeout: str = "5s") -> Run:
    """One wrk run of `seconds` at `connections` connections (one thread), latency percentiles included."""
    require_wrk()
    command = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", f"--timeout={timeout}", "--latency"]
    command += ["-s", str(script)] if script else []
    finished = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60)
    if "Requests/sec" not in finished.stdout:
        report = finished.stderr.strip() or finished.stdout.strip()
        raise RuntimeError(f"wrk gave no result for {url}: {report}")
    return parse(finished.stdout)
