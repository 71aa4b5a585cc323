"""Every deadline holds end to end, against a MySQL that accepts TCP connections and never greets.

SlowLink (tests/standins/slow_link.py) holds every greeting of a real MariaDB for longer than any
timeout: the server is up, stuck before its greeting as an overloaded or hung one would be, which a real
server cannot be made to do on demand. A connection attempt can then only end by the connect timeout
(2 s), so every answer before that comes from the request's own deadline. The API is the real uvicorn
process, with its default timeouts (connect 2 s, request 2 s, pool 5, pool wait 0.5 s).
Each test runs twice: against a plain server, and against one that requires TLS (any_mariadb).
"""

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from devstack.api import ApiProcess
from standins.slow_link import SlowLink
from support.http import http_client

# A connect on the event loop would hold /status for the whole 2 s connect timeout; a healthy loop
# answers in milliseconds, and in a few hundred at worst on a busy shared machine. The bound sits between.
STATUS_HANG_GUARD_SECONDS = 1.5
POOL_SIZE = 5
# Longer than every timeout of the API and of the test.
NEVER_SECONDS = 3600


@pytest.fixture
def silent(any_mariadb) -> Iterator[SlowLink]:
    with SlowLink(any_mariadb.port, greeting_delay=NEVER_SECONDS) as link:
        yield link


@pytest.fixture
def silent_api(silent: SlowLink, any_mariadb, start_api) -> ApiProcess:
    return start_api(any_mariadb, MYSQL_PORT=str(silent.port))


def timed_get(client: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def client_of(api: ApiProcess) -> httpx.Client:
    # Made before the clock starts: a new client costs the test process milliseconds of CPU.
    return http_client(base_url=api.base_url, timeout=10)


def test_ready_answers_503_within_its_1_second_deadline(silent_api, silent, figure):
    with client_of(silent_api) as client:
        response, elapsed = timed_get(client, "/ready")
    assert (response.status_code, response.json()) == (503, {"detail": "Database timed out"})
    assert elapsed < 1.4  # its 1 s deadline plus HTTP; the probe itself gives up at 2 s
    assert len(silent.links) == 1
    figure(f"silent MySQL: /ready gave 503 after {elapsed:.2f} s")


def test_parallel_requests_each_answer_503_within_the_request_timeout_and_status_stays_fast(
    silent_api, silent, figure
):
    with contextlib.ExitStack() as stack:
        probe, *askers = (stack.enter_context(client_of(silent_api)) for _ in range(11))
        with ThreadPoolExecutor(len(askers)) as pool:
            requests = [pool.submit(timed_get, asker, "/users/1") for asker in askers]
            status_latencies = []
            while not all(request.done() for request in requests):
                status, elapsed = timed_get(probe, "/status")
                assert status.status_code == 200
                status_latencies.append(elapsed)
            results = [request.result() for request in requests]

    assert status_latencies and max(status_latencies) < STATUS_HANG_GUARD_SECONDS
    assert {response.status_code for response, _ in results} == {503}
    # Pool wait, connect and query together stay within MYSQL_REQUEST_TIMEOUT (2 s), plus HTTP.
    slowest = max(elapsed for _, elapsed in results)
    assert slowest < 2.6
    # A full pool is a 503 like any other (on Python < 3.11 it was a 500).
    details = sorted(response.json()["detail"] for response, _ in results)
    assert details == ["Database busy"] * (len(askers) - POOL_SIZE) + ["Database timed out"] * POOL_SIZE
    # One connection attempt per request that held a connection slot: no retries, no storm.
    assert len(silent.links) == POOL_SIZE
    figure(
        f"silent MySQL: {len(askers)} x /users/1 gave 503 within {slowest:.2f} s; "
        f"{len(status_latencies)} x /status meanwhile, max {max(status_latencies) * 1000:.1f} ms"
    )
