"""SIGTERM, as the kubelet sends it: in-flight requests complete, new connections are refused, the process
ends within the Deployment's grace period."""

import signal
import socket
import time

from devstack.api import ApiProcess
from devstack.wait import wait_until
from k8s.manifests import load
from reliability.load import Load

GRACE_SECONDS = load()["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
CLIENTS = 16


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_sigterm_under_load_finishes_in_flight_requests_and_refuses_new_ones(new_mariadb, figure):
    database = new_mariadb().start()
    # One connection per client, so every one of them can be waiting on the lock at once, and a request
    # timeout far beyond the test, so the requests wait for the lock as long as it is held.
    timeouts = {"MYSQL_REQUEST_TIMEOUT": "60", "MYSQL_SOCKET_TIMEOUT": "90"}
    api = ApiProcess({**database.env(), "MYSQL_POOL_SIZE": str(CLIENTS), **timeouts})
    api.start()
    try:
        requests = Load(
            api.base_url,
            lambda n: f"/users/{n % 100 + 1}",
            concurrency=CLIENTS,
            fresh_connections=True,
            max_seconds=60,
        ).start()
        wait_until(lambda: len(requests.outcomes) >= 2 * CLIENTS, 30, "the load is running")
        with database.table_lock():
            database.wait_for_lock_waiters(CLIENTS)  # every client has a request in flight
            sigterm_at = time.monotonic()
            api.send(signal.SIGTERM)
            # Still inside the lock, so nothing in flight can have finished: the server is draining.
            wait_until(lambda: not accepts_connections(api.port), 10, "the listening socket closes")
        # The lock is released: the in-flight requests can finish.
        status = api.wait(GRACE_SECONDS)
        exited_after = time.monotonic() - sigterm_at
        requests.stop.set()
        requests.wait()
    finally:
        api.stop()
    in_flight = [o for o in requests.outcomes if o.started < sigterm_at < o.finished]
    later = [o for o in requests.outcomes if o.started > sigterm_at]
    assert len(in_flight) >= CLIENTS and {o.result for o in in_flight} == {200}
    assert {o.result for o in later} <= {200, "ConnectError"}  # never a dropped or broken response
    assert status in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "Application shutdown complete" in api.logs()
    figure(
        f"SIGTERM under load: {len(in_flight)} in-flight requests all answered 200, new connections "
        f"refused, exit status {status} after {exited_after:.2f} s (grace period {GRACE_SECONDS} s)"
    )
