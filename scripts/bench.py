"""Benchmark: the User API against the textbook and the naive design, side by side, with wrk.

    .venv/bin/python scripts/bench.py [--duration 10] [--connections 32] [--rounds 3]

Three services answer the same contract from one private MariaDB, seeded from scripts/sql. Each is one
uvicorn process (Kubernetes scales with replicas, not workers) started as `make run` starts ours,
`uvicorn main:server` from its directory:
- project: api/;
- textbook: scripts/bench_baseline/textbook/, `def` routes and SQLAlchemy's QueuePool;
- naive: scripts/bench_baseline/naive/, the seed's design, blocking queries on the event loop.
Each endpoint is loaded for --duration seconds at --connections connections, the services taking turns,
for --rounds rounds; the medians, the project's ratios and the goal are printed. Then the DB stall:
while another session holds LOCK TABLES Users WRITE, /status is loaded and three clients ask for /users.
All traffic goes to 127.0.0.1; every run is bounded in time.
"""

import argparse
import contextlib
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from devstack.api import API_DIR, ApiProcess
from devstack.mariadb import MariaDBServer
from devstack.wrk import Run, require_wrk, wrk

BASELINES = Path(__file__).resolve().parent / "bench_baseline"
# Each service: the directory it runs from and its uvicorn options beyond host and port.
SERVICES = {
    "project": (API_DIR, ()),
    "textbook": (BASELINES / "textbook", ()),
    # Plain uvicorn, as a bare `pip install uvicorn` gives it: the asyncio loop and the h11 parser.
    "naive": (BASELINES / "naive", ("--loop", "asyncio", "--http", "h11")),
}
PROJECT = "project"
ENDPOINTS = ("/status", "/users", "/users/{id}")
# The goal: this many times the textbook's requests/s, and a lower p99, on the data routes.
GOAL_BASELINE, GOAL_RATIO, GOAL_ENDPOINTS = "textbook", 1.5, ("/users", "/users/{id}")
# wrk script: /users/1 ... /users/100 in turn, so every request is a real lookup of a different row.
USERS_BY_ID = """counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/users/" .. ((counter % 100) + 1))
end
"""
STALL_CLIENTS = 3

Results = dict[tuple[str, str], list[Run]]


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


def measure(services: dict[str, ApiProcess], args: argparse.Namespace, lua: Path) -> Results:
    if args.warmup:  # pools filled, code paths warm
        for endpoint in ENDPOINTS:
            for service in services.values():
                load(service, endpoint, args.warmup, args.connections, lua)
    results: Results = {}
    names = list(services)
    for round_index in range(args.rounds):
        # Each round starts with the next service, so none always runs first or last.
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for endpoint in ENDPOINTS:
            for name in order:
                run = load(services[name], endpoint, args.duration, args.connections, lua)
                results.setdefault((name, endpoint), []).append(run)
                print(
                    f"round {round_index + 1} {endpoint:11} {name:8} {run.requests_per_second:7.0f} req/s  "
                    f"p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  errors {run.errors}",
                    flush=True,
                )
    return results


def median(results: Results, name: str, endpoint: str, field: str) -> float:
    return statistics.median(getattr(run, field) for run in results[(name, endpoint)])


def speedup(results: Results, baseline: str, endpoint: str) -> float:
    """The median over rounds of the project's requests/s over the baseline's. Within a round the two
    ran back to back, so a machine that grows busier or quieter over the run moves both alike."""
    pairs = zip(results[(PROJECT, endpoint)], results[(baseline, endpoint)], strict=True)
    return statistics.median(ours.requests_per_second / theirs.requests_per_second for ours, theirs in pairs)


def report(results: Results, names: list[str], args: argparse.Namespace) -> None:
    baselines = [name for name in names if name != PROJECT]
    rows = [
        [
            "endpoint",
            *(f"{name} req/s" for name in names),
            *(f"x {name}" for name in baselines),
            *(f"{name} p99 ms" for name in names),
            "errors",
        ]
    ]
    for endpoint in ENDPOINTS:
        rows.append(
            [
                endpoint,
                *(f"{median(results, name, endpoint, 'requests_per_second'):.0f}" for name in names),
                *(f"{speedup(results, name, endpoint):.2f}x" for name in baselines),
                *(f"{median(results, name, endpoint, 'p99_ms'):.2f}" for name in names),
                str(sum(run.errors for name in names for run in results[(name, endpoint)])),
            ]
        )
    print_table(
        f"Medians of {args.rounds} rounds, {args.duration} s each, {args.connections} connections "
        "(x: the median of each round's project requests/s over the other's):",
        rows,
    )
    print(f"\nGoal: at least {GOAL_RATIO}x the {GOAL_BASELINE}'s requests/s, and a lower p99:")
    for endpoint in GOAL_ENDPOINTS:
        ratio = speedup(results, GOAL_BASELINE, endpoint)
        ours, theirs = (median(results, name, endpoint, "p99_ms") for name in (PROJECT, GOAL_BASELINE))
        print(
            f"  {endpoint:11} requests/s {ratio:.2f}x: {'met' if ratio >= GOAL_RATIO else 'MISSED'};  "
            f"p99 {ours:.2f} vs {theirs:.2f} ms: {'met' if ours < theirs else 'MISSED'}"
        )


def stall(services: dict[str, ApiProcess], database: MariaDBServer, seconds: int) -> None:
    rows = [["service", "/status while locked (8 connections)", f"/users, {STALL_CLIENTS} clients"]]
    for name, service in services.items():
        outcomes: list[str] = []

        def ask_for_users(base_url: str = service.base_url, outcomes: list[str] = outcomes) -> None:
            started = time.monotonic()
            try:
                status = httpx.get(f"{base_url}/users", timeout=seconds + 30).status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            outcomes.append(f"{status} after {time.monotonic() - started:.2f} s")

        askers = [threading.Thread(target=ask_for_users) for _ in range(STALL_CLIENTS)]
        with database.table_lock():
            for asker in askers:
                asker.start()
            # The naive service blocks its event loop on the first query: it never has more waiting.
            database.wait_for_lock_waiters(1)
            run = wrk(f"{service.base_url}/status", seconds, 8, timeout="2s")
        for asker in askers:
            asker.join(60)
        answered = f"{run.requests} answers, p99 {run.p99_ms:.2f} ms" if run.requests else "none"
        rows.append([name, answered, "; ".join(sorted(outcomes))])
    print_table(f"DB stall: LOCK TABLES Users WRITE held for {seconds} s:", rows)


def benchmark(args: argparse.Namespace) -> Results:
    """Start the database and the services, measure, report, and stop them all again."""
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch, contextlib.ExitStack() as stack:
        lua = Path(scratch, "users_by_id.lua")
        lua.write_text(USERS_BY_ID)
        database = stack.enter_context(MariaDBServer(secrets.token_urlsafe(12)))
        services = {
            name: stack.enter_context(ApiProcess(database.env(), app_dir=app_dir, extra_args=options))
            for name, (app_dir, options) in SERVICES.items()
        }
        listening = ", ".join(f"{name} {service.base_url}" for name, service in services.items())
        print(f"bench: MariaDB on 127.0.0.1:{database.port}; {listening}", flush=True)
        results = measure(services, args, lua)
        report(results, list(services), args)
        stall(services, database, args.stall_seconds)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of turns (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load first (0: none)")
    parser.add_argument("--stall-seconds", type=int, default=5, help="how long the table stays locked")
    args = parser.parse_args()
    if min(args.duration, args.connections, args.rounds, args.stall_seconds) < 1 or args.warmup < 0:
        parser.error("--duration, --connections, --rounds and --stall-seconds need at least 1, --warmup 0")
    try:
        require_wrk()
        results = benchmark(args)
    except RuntimeError as error:  # wrk or MariaDB missing, a server that did not start, wrk without a result
        sys.exit(f"bench: {error}")
    if any(run.errors for runs in results.values() for run in runs):
        print("\nbench: some runs had non-2xx responses or socket errors", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
