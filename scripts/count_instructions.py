"""Instructions per request, counted by valgrind's callgrind: what the code costs, whatever the load.

    .venv/bin/python scripts/count_instructions.py [--level app|server|both] [--requests 300]

Wall-clock benchmarks on a shared machine move by 10-30% between runs; the number of CPU instructions a
request takes hardly does. For each of /status, /users (the seed's 100
rows) and /users/{id} (ids 1-100 in turn), two counts:

- app: the ASGI application called in-process, no HTTP server, its database a stand-in that answers from
  memory: what api/userapi's routing, validation and encoding cost;
- server: `uvicorn main:server`, as the image runs it, on a private MariaDB: the whole process (HTTP
  parsing, the app, the pool and the driver), the client outside it.

The app count is one run under callgrind: after --warmup requests to each path, the script calls a
marker function before each path's --requests requests, and callgrind starts a new count at each
marker. The server count runs each path's server twice, with --warmup + 50 and with --requests more
requests; per request = (the longer run - the shorter) / --requests, so start-up and warm-up cancel
out. It also counts the server's access log and uvicorn's timer (10 ticks a second, which under
valgrind adds a little per request when the machine is busy). Python's hash seed is fixed, so repeated
counts agree within 0.1% (app) and about 1% (server). Needs valgrind (Debian: apt-get install valgrind).
"""

import argparse
import asyncio
import gc
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from devstack.api import API_DIR, ApiProcess
from devstack.mariadb import MariaDBServer

PATHS = ("/status", "/users", "/users/{id}")
# The short run: enough requests after the warm-up that both runs end in the same state.
SHORT_RUN = 50
SEED_ROWS = 100
# What the counted processes see. Python salts its string hashes per process, which moves dict layouts
# and so the counts: the seed is fixed. OpenTelemetry's variables pass through, so that
# `OTEL_SDK_DISABLED=true scripts/count_instructions.py` counts the app with FastAPI's telemetry off.
COUNTED_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "PYTHONHASHSEED": "0",
    **{name: value for name, value in os.environ.items() if name.startswith("OTEL_")},
}
# CPython's os.getppid(): a C function the app never calls, so the script calls it as a marker.
MARKER = "os_getppid"
TOTALS = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


def request_paths(path: str, count: int) -> list[str]:
    if path == "/users/{id}":
        return [f"/users/{n % SEED_ROWS + 1}" for n in range(count)]
    return [path] * count


def callgrind(out_file: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"]


def total_instructions(out_file: Path) -> int:
    return int(TOTALS.search(out_file.read_text()).group(1))


# --- app level: this script, run again under callgrind, calls the ASGI app itself


class InMemoryDatabase:
    """Stands in for userapi.database.Database: users.py's statements answered from rows in memory."""

    def __init__(self) -> None:
        from userapi import users

        self.users = users
        # Ids 1-100, at index id - 1: each answer is a slice, so the stand-in adds little to the count.
        self.rows = tuple((n, f"user{n}", f"user{n}@example.org") for n in range(1, SEED_ROWS + 1))

    async def fetch(self, statement, values: Mapping[str, Any] | None = None, *, timeout=None) -> tuple:
        if statement is self.users.USER_PAGE:
            start = min(max(values["after_id"], 0), SEED_ROWS)
            return self.rows[start : start + values["rows"]]
        if statement is self.users.ONE_USER:
            return self.rows[values["user_id"] - 1 : values["user_id"]]
        return ((1,),)


async def call_app(warmup: int, count: int) -> None:
    """Warm every path up, then `count` requests to each path between two markers (see count_app)."""
    sys.path.insert(0, str(API_DIR))
    from userapi.app import create_app
    from userapi.config import Settings

    app = create_app(Settings())
    # Where the app's start-up puts its Database (a dependency override would cost a signature
    # analysis per request, which the service does not pay).
    app.state.database = InMemoryDatabase()
    # As the app's start-up does: otherwise a full collection, scanning every module's objects, lands
    # in one count or another and moves it by 10%.
    gc.freeze()

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def get(url: str) -> None:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": url,
            "raw_path": url.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8000")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"count_instructions: {url} answered {sent[0]['status']}")

    for path in PATHS:
        for url in request_paths(path, warmup):
            await get(url)
    for path in PATHS:
        os.getppid()  # the marker: callgrind starts a new count here
        for url in request_paths(path, count):
            await get(url)
    os.getppid()


def count_app(args, scratch: Path) -> dict[str, int]:
    """One run: callgrind dumps its count whenever the marker function is called, so each path's
    requests get a count of their own, free of start-up and warm-up."""
    out_file = scratch / "app.out"
    command = [
        *callgrind(out_file),
        f"--dump-before={MARKER}",
        sys.executable,
        __file__,
        "--call-app",
        str(args.warmup),
        str(args.requests),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=3600, env=COUNTED_ENV)
    # Part 1 is start-up and warm-up; parts 2-4 the paths in order.
    parts = [total_instructions(Path(f"{out_file}.{part}")) for part in range(2, 2 + len(PATHS))]
    return {path: round(total / args.requests) for path, total in zip(PATHS, parts, strict=True)}


# --- server level: uvicorn under callgrind, the requests sent from here


class CountedApi(ApiProcess):
    def __init__(self, env: dict[str, str], out_file: Path) -> None:
        super().__init__(env)
        self.out_file = out_file

    def command(self) -> list[str]:
        return [*callgrind(self.out_file), *super().command()]


def count_server(database: MariaDBServer, path: str, count: int, out_file: Path) -> int:
    import httpx

    api = CountedApi({**database.env(), **COUNTED_ENV}, out_file).start(timeout=600)
    try:
        with httpx.Client(base_url=api.base_url, timeout=120) as client:
            for url in request_paths(path, count):
                client.get(url).raise_for_status()
    finally:
        # uvicorn ends a SIGTERM shutdown by raising SIGTERM again, as the kubelet expects.
        if api.stop(timeout=300) not in (0, -signal.SIGTERM):
            raise SystemExit(f"count_instructions: the server did not stop cleanly:\n{api.log_tail()}")
        api.log.unlink(missing_ok=True)
    return total_instructions(out_file)


def count_servers(args, scratch: Path) -> dict[str, int]:
    """Per path, two servers: per request = (longer run - shorter run) / --requests."""
    database = MariaDBServer(secrets.token_urlsafe(12)).start()

    def per_request(path: str) -> int:
        short = args.warmup + SHORT_RUN
        name = path.strip("/").replace("/", "-").replace("{", "").replace("}", "")
        totals = [
            count_server(database, path, n, scratch / f"{name}-{n}.out")
            for n in (short, short + args.requests)
        ]
        return round((totals[1] - totals[0]) / args.requests)

    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            return dict(zip(PATHS, pool.map(per_request, PATHS), strict=True))
    finally:
        database.remove()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--level", choices=("app", "server", "both"), default="both")
    parser.add_argument("--requests", type=int, default=300, help="requests counted per path (default 300)")
    parser.add_argument(
        "--warmup", type=int, default=30, help="requests per path before counting (default 30)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="servers counted at once (default 2)")
    parser.add_argument("--call-app", nargs=2, type=int, metavar=("WARMUP", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.call_app:
        asyncio.run(call_app(*args.call_app))
        return 0
    if not shutil.which("valgrind"):
        sys.exit("count_instructions: valgrind not found: install it (Debian: apt-get install valgrind)")

    levels = ("app", "server") if args.level == "both" else (args.level,)
    results: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="count-instructions-") as scratch:
        if "app" in levels:
            results["app"] = count_app(args, Path(scratch))
        if "server" in levels:
            results["server"] = count_servers(args, Path(scratch))
    print(f"Instructions per request ({args.requests} requests per path, after {args.warmup} to warm up):")
    print(f"  {'path':12}" + "".join(f"{level:>14}" for level in levels))
    for path in PATHS:
        print(f"  {path:12}" + "".join(f"{results[level][path]:>14,}" for level in levels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
