"""Benchmark: the User API against the naive baseline, side by side, with wrk, on one private MariaDB.

    .venv/bin/python scripts/bench.py [--duration 10] [--connections 32] [--rounds 3]

Both services run the way `make run` runs ours: one uvicorn process each (Kubernetes scales with
replicas, not workers), on loopback, against the same seeded MariaDB. Each endpoint is loaded for
--duration seconds at --connections connections, project and baseline alternating, for --rounds rounds;
the medians and the ratios (project / baseline) are printed. Then the DB-stall scenario: while another
session holds LOCK TABLES Users WRITE, /status is loaded and a few /users requests are made.
All traffic goes to 127.0.0.1; every run is bounded in time.
"""

import argparse
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from devstack.api import ApiProcess
from devstack.mariadb import MariaDBServer
from devstack.wrk import Run, WrkMissing, require_wrk, wrk

BASELINE_DIR = Path(__file__).resolve().parent / "bench_baseline"
# wrk script: /users/1 ... /users/100 in turn, so every request is a real lookup of a different row.
USERS_BY_ID = """counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/users/" .. ((counter % 100) + 1))
end
"""
ENDPOINTS = ("/status", "/users", "/users/{id}")
TARGETS = {"/users": 2.0, "/users/{id}": 1.3, "/status": 1.5}


def load(service: ApiProcess, endpoint: str, seconds: float, connections: int, lua: Path) -> Run:
    if endpoint == "/users/{id}":
        return wrk(f"{service.base_url}/users/1", seconds, connections, script=lua)
    return wrk(service.base_url + endpoint, seconds, connections)


def print_table(title: str, rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"\n{title}")
    for index, row in enumerate(rows):
        print("  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  " + "  ".join("-" * width for width in widths))


def benchmark(services: dict[str, ApiProcess], args, lua: Path) -> bool:
    runs: dict[tuple[str, str], list[Run]] = {}
    if args.warmup:  # pools filled, code paths compiled
        for endpoint in ENDPOINTS:
            for service in services.values():
                load(service, endpoint, args.warmup, args.connections, lua)
    for round_number in range(args.rounds):
        order = list(services) if round_number % 2 == 0 else list(reversed(services))
        for endpoint in ENDPOINTS:
            for name in order:
                run = load(services[name], endpoint, args.duration, args.connections, lua)
                runs.setdefault((name, endpoint), []).append(run)
                print(
                    f"round {round_number + 1} {endpoint:12} {name:8} {run.requests_per_second:9.0f} req/s  "
                    f"p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  non-2xx {run.non_2xx}  "
                    f"socket errors {run.socket_errors}",
                    flush=True,
                )

    def median(name: str, endpoint: str, field: str) -> float:
        return statistics.median(getattr(run, field) for run in runs[(name, endpoint)])

    def latencies(name: str, endpoint: str) -> str:
        return f"{median(name, endpoint, 'p50_ms'):.2f} / {median(name, endpoint, 'p99_ms'):.2f}"

    rows = [
        [
            "endpoint",
            "project req/s",
            "baseline req/s",
            "ratio",
            "target",
            "project p50/p99 ms",
            "baseline p50/p99 ms",
            "errors",
        ]
    ]
    clean = True
    for endpoint in ENDPOINTS:
        ratio = median("project", endpoint, "requests_per_second") / median(
            "baseline", endpoint, "requests_per_second"
        )
        errors = sum(run.errors for name in services for run in runs[(name, endpoint)])
        clean &= errors == 0
        met = "met" if ratio >= TARGETS[endpoint] else "MISSED"
        rows.append(
            [
                endpoint,
                f"{median('project', endpoint, 'requests_per_second'):.0f}",
                f"{median('baseline', endpoint, 'requests_per_second'):.0f}",
                f"{ratio:.2f}x",
                f">= {TARGETS[endpoint]}x {met}",
                latencies("project", endpoint),
                latencies("baseline", endpoint),
                str(errors),
            ]
        )
    print_table(
        f"Medians of {args.rounds} rounds, {args.duration:g} s each, {args.connections} connections:", rows
    )
    return clean


def stall(services: dict[str, ApiProcess], database: MariaDBServer, args) -> None:
    rows = [
        [
            "service",
            "/status answers",
            "/status p50 ms",
            "/status p99 ms",
            "/status socket errors",
            "/users answers (status after seconds)",
        ]
    ]
    for name, service in services.items():
        outcomes: list[str] = []

        def ask_for_users(service: ApiProcess = service, outcomes: list[str] = outcomes) -> None:
            started = time.monotonic()
            try:
                status = httpx.get(f"{service.base_url}/users", timeout=args.stall_seconds + 30).status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            outcomes.append(f"{status} after {time.monotonic() - started:.2f} s")

        askers = [threading.Thread(target=ask_for_users) for _ in range(3)]
        with database.table_lock():
            for asker in askers:
                asker.start()
            # The baseline blocks its event loop on the first query, so it never has 3 waiting at once.
            database.wait_for_lock_waiters(1)
            run = wrk(f"{service.base_url}/status", args.stall_seconds, 8, timeout="2s")
        for asker in askers:
            asker.join(60)
        # No answer at all means no latency to report: the event loop was frozen.
        latency = [f"{run.p50_ms:.2f}", f"{run.p99_ms:.2f}"] if run.requests else ["none", "none"]
        answers = f"{run.requests} in {args.stall_seconds} s"
        rows.append([name, answers, *latency, str(run.socket_errors), "; ".join(sorted(outcomes))])
    print_table(
        f"DB stall: LOCK TABLES Users WRITE held for {args.stall_seconds:g} s while /status is loaded "
        "(8 connections) and 3 clients ask for /users:",
        rows,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="seconds of unmeasured load per run before the rounds (0: none)"
    )
    parser.add_argument("--stall-seconds", type=int, default=5, help="how long the table stays locked")
    args = parser.parse_args()
    try:
        require_wrk()
    except WrkMissing as error:
        sys.exit(f"bench: {error}")

    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        lua = Path(scratch, "users_by_id.lua")
        lua.write_text(USERS_BY_ID)
        database = MariaDBServer(secrets.token_urlsafe(12)).start()
        services = {
            "project": ApiProcess(database.env()),
            # "Plain uvicorn": the asyncio event loop and the h11 parser, as a bare `pip install uvicorn`.
            "baseline": ApiProcess(
                database.env(), app_dir=BASELINE_DIR, extra_args=("--loop", "asyncio", "--http", "h11")
            ),
        }
        try:
            for service in services.values():
                service.start()
            print(
                f"bench: MariaDB on 127.0.0.1:{database.port}; project {services['project'].base_url}, "
                f"baseline {services['baseline'].base_url}",
                flush=True,
            )
            clean = benchmark(services, args, lua)
            stall(services, database, args)
        finally:
            for service in services.values():
                service.stop()
            database.remove()
    if not clean:
        print("\nbench: some normal runs had non-2xx responses or socket errors", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
