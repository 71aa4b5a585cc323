"""database.py against a real MariaDB and a real uvicorn process, under the failures a sidecar
database brings (not up yet, locked, a slow query) and those of a distant one, through SlowLink
(tests/standins/slow_link.py): answers that drip in, greetings that come late. The same layer's
failure paths in detail, with a scripted connection: test_database_unit.py; a database killed and
restarted under load: tests/reliability/test_load.py.

Time bounds here are either the product's own deadlines (the request timeout, the probe's 2 s) or hang
guards far above the typical value; every wait is for a condition (e.g. queries waiting on the lock).
"""

import asyncio
import signal
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from database import Database, DatabaseUnavailable, Statement
from devstack.mariadb import MariaDBServer
from devstack.wait import wait_until
from standins.slow_link import SlowLink
from support.http import http_client, http_get, wait_for_status

# A frozen event loop would hold /status for the whole lock wait (3 s here); a healthy one answers in
# milliseconds, and in a few hundred at worst on a busy shared machine. The bound sits between.
STATUS_HANG_GUARD_SECONDS = 2.0
# While an answer drips, a held loop holds /status for seconds (until the request's deadline); a free
# one answers in milliseconds.
DRIP_STATUS_BOUND_SECONDS = 0.5
HANG_GUARD_SECONDS = 20


def get(api, path: str, timeout: float = 10) -> httpx.Response:
    return http_get(api.base_url + path, timeout=timeout)


def timed_get(api, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = get(api, path)
    return response, time.monotonic() - started


def test_starts_without_the_database_and_recovers_when_it_comes_up(new_mariadb, start_api):
    database = new_mariadb()  # not started: the API container won the race
    api = start_api(database)

    assert get(api, "/status").status_code == 200
    ready, _ = timed_get(api, "/ready")
    assert ready.status_code == 503
    assert ready.json() == {"detail": "Database unavailable"}
    users, elapsed = timed_get(api, "/users")
    assert users.status_code == 503
    assert users.json() == {"detail": "Database unavailable"}
    assert elapsed < 3

    database.start()
    wait_for_status(f"{api.base_url}/ready", within=5)
    assert get(api, "/users").status_code == 200
    assert api.running()


def status_latencies_while(api, pending: Future, at_most: int) -> list[float]:
    """Seconds each GET /status took, one after another, until `pending` is done (at most `at_most`)."""
    latencies = []
    with http_client(base_url=api.base_url, timeout=10) as probe:
        while not pending.done() and len(latencies) < at_most:
            started = time.monotonic()
            assert probe.get("/status").status_code == 200
            latencies.append(time.monotonic() - started)
    return latencies


def test_a_locked_table_never_blocks_the_event_loop(mariadb, start_api, figure):
    api = start_api(mariadb, MYSQL_REQUEST_TIMEOUT="3")
    get(api, "/users")  # warm the pool
    with mariadb.table_lock(), ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(timed_get, api, "/users")
        mariadb.wait_for_lock_waiters(1)  # the query now waits on the lock
        latencies = status_latencies_while(api, blocked, at_most=200)
        users, waited = blocked.result()
    assert len(latencies) >= 20  # (a frozen loop would allow one or two before the query gives up)
    assert max(latencies) < STATUS_HANG_GUARD_SECONDS, f"/status took up to {max(latencies):.2f} s"
    assert users.status_code == 503
    assert users.json() == {"detail": "Database timed out"}
    # "timed out", not a 200 after the lock: the deadline fired (measured exactly in test_deadlines.py).
    assert waited < 10 * 3  # a hang guard only
    figure(
        f"/status while locked: {len(latencies)} requests, "
        f"median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms; /users gave 503 after {waited:.2f} s"
    )
    # The timed-out connection was closed (its query was still in flight); a fresh one serves.
    assert get(api, "/users").status_code == 200


def test_readiness_answers_within_the_probe_timeout_while_the_table_is_locked_and_the_pool_is_full(
    mariadb, start_api
):
    api = start_api(mariadb, MYSQL_POOL_SIZE="1", MYSQL_REQUEST_TIMEOUT="5")
    with mariadb.table_lock(), ThreadPoolExecutor(1) as pool:
        pool.submit(get, api, "/users")
        mariadb.wait_for_lock_waiters(1)  # the pool's only connection is taken
        ready, elapsed = timed_get(api, "/ready")
    assert ready.status_code == 503
    assert ready.json() == {"detail": "Database busy"}
    assert elapsed < 2  # the readiness probe's timeoutSeconds


def test_an_answer_dripping_in_never_holds_the_event_loop(any_mariadb, start_api, figure):
    # Each answer's first 2 KB at once (a TLS handshake fits), then a byte every 100 ms: the rest of
    # /users (about 4 KB) would take minutes. Over TLS, the pauses also outlast the 30 ms after which the
    # driver's reads gave up on a non-blocking socket (database.PooledConnection.read_blocking).
    with SlowLink(any_mariadb.port, drip_after=2048, drip_interval=0.1) as link:
        api = start_api(any_mariadb, MYSQL_PORT=str(link.port))
        with ThreadPoolExecutor(1) as pool:
            dripping = pool.submit(timed_get, api, "/users")
            wait_until(lambda: link.dripping, HANG_GUARD_SECONDS, "an answer dripping in")
            latencies = status_latencies_while(api, dripping, at_most=5000)
            users, waited = dripping.result()
        # The API hung up the dripping connection (its socket shut down at the deadline), so it can
        # never serve another request; the unit tests show the close and the freed place that follow.
        wait_until(lambda: link.dripping_links_closed_by_client() == 1, HANG_GUARD_SECONDS, "it closed")
    assert latencies and max(latencies) < DRIP_STATUS_BOUND_SECONDS, f"/status took {max(latencies):.2f} s"
    assert users.status_code == 503
    assert users.json() == {"detail": "Database timed out"}  # its deadline ended it, not the last byte
    figure(
        f"/users dripping: 503 after {waited:.2f} s; meanwhile {len(latencies)} x /status, "
        f"median {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )


def test_slow_handshakes_never_take_the_pool_past_its_size(mariadb, start_api, figure):
    # Each server greeting comes 2.5 s late: requests (2 s deadline) give up before their connections
    # arrive, and the late connections reach the pool while others are being opened.
    with SlowLink(mariadb.port, greeting_delay=2.5) as link:
        api = start_api(mariadb, MYSQL_PORT=str(link.port), MYSQL_POOL_SIZE="3", MYSQL_CONNECT_TIMEOUT="5")
        answers: Counter[int] = Counter()
        enough = threading.Event()

        def ask() -> None:
            with http_client(base_url=api.base_url, timeout=10) as client:
                while not enough.is_set():
                    answers[client.get("/users/1").status_code] += 1
                    if answers[200] >= 100:  # well after the late connections came in
                        enough.set()

        with ThreadPoolExecutor(16) as pool:
            clients = [pool.submit(ask) for _ in range(16)]
            enough.wait(HANG_GUARD_SECONDS * 3)
            enough.set()
            for client in clients:
                client.result()
    assert answers[200] >= 100 and set(answers) <= {200, 503}, answers
    assert link.most_open <= 3, f"{link.most_open} server connections with MYSQL_POOL_SIZE=3"
    figure(f"greetings 2.5 s late, 16 clients: at most {link.most_open} server connections; {dict(answers)}")


def test_sigterm_with_the_database_down_exits_promptly(new_mariadb, start_api):
    api = start_api(new_mariadb())
    assert get(api, "/users").status_code == 503
    started = time.monotonic()
    # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught, as a Unix program should.
    assert api.stop(timeout=10) in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 5
    assert "Application shutdown complete" in api.logs()


# A SELECT that keeps the server counting for minutes (10^10 pairs of rows) and, busy with the CPU, does
# not notice a client that has gone.
SLOW_SELECT = Statement.compile(
    text("SELECT COUNT(*) FROM seq_1_to_100000 a, seq_1_to_100000 b WHERE a.seq + b.seq = 7")
)


def in_process_database(server: MariaDBServer, request_timeout: float) -> Database:
    env = server.env()
    url = URL.create(
        "mysql+mysqldb",
        username=env["MYSQL_USER"],
        password=env["MYSQL_PASSWORD"],
        host=env["MYSQL_HOST"],
        port=int(env["MYSQL_PORT"]),
        database=env["MYSQL_DATABASE"],
    )
    limits = {
        "connect_timeout": 2,
        "socket_timeout": 30,
        "pool_size": 1,
        "pool_timeout": 1,
        "pool_max_idle": 60,
    }
    return Database(url, request_timeout=request_timeout, **limits)


def test_a_slow_select_ends_on_the_server_soon_after_its_503(mariadb):
    async def ask() -> str:
        database = in_process_database(mariadb, request_timeout=0.5)
        try:
            with pytest.raises(DatabaseUnavailable) as failed:
                await database.fetch(SLOW_SELECT)
            return str(failed.value)
        finally:
            database.close()

    try:
        assert asyncio.run(ask()) == "Database timed out"
        # Left alone, the server would count on for minutes: its max_statement_time ends the query.
        ended = lambda: not mariadb.statements_running("seq_1_to_100000")  # noqa: E731
        wait_until(ended, HANG_GUARD_SECONDS, "the slow SELECT stopped on the server")
    finally:
        for session in mariadb.statements_running("seq_1_to_100000"):
            mariadb.sql(f"KILL {int(session)}")
