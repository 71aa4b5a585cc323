"""SIGTERM, as the kubelet sends it: in-flight requests complete, new connections are refused, the process
ends within the Deployment's grace period."""

import signal
import socket
import time

from devstack.api import ApiProcess
from k8s.manifests import load
from reliability.load import Load
from support.mysql import TableLock

GRACE_SECONDS = load()["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_sigterm_under_load_finishes_in_flight_requests_and_refuses_new_ones(new_mariadb, figure):
    database = new_mariadb().start()
    # One connection per client, so every one of them can be waiting on the lock at once.
    api = ApiProcess({**database.env(), "MYSQL_POOL_SIZE": "16"}).start()
    try:
        requests = Load(
            api.base_url,
            lambda n: f"/users/{n % 100 + 1}",
            concurrency=16,
            fresh_connections=True,
            max_seconds=20,
        ).start()
        time.sleep(1)
        with TableLock(database):
            time.sleep(0.5)  # every worker now has a request waiting on the lock: in flight
            sigterm_at = time.monotonic()
            api.send(signal.SIGTERM)
            time.sleep(0.5)
            refused_while_draining = not accepts_connections(api.port)
        # The lock is released: the in-flight requests can finish.
        status = api.wait(GRACE_SECONDS)
        exited_after = time.monotonic() - sigterm_at
        requests.stop.set()
        requests.wait()
    finally:
        api.stop()
    in_flight = [o for o in requests.outcomes if o.started < sigterm_at < o.finished]
    later = [o for o in requests.outcomes if o.started > sigterm_at]
    assert len(in_flight) >= 16 and {o.result for o in in_flight} == {200}
    assert refused_while_draining
    assert {o.result for o in later} <= {200, "ConnectError"}  # never a dropped or broken response
    assert status in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown
    assert exited_after < GRACE_SECONDS
    assert "Application shutdown complete" in api.logs()
    figure(
        f"SIGTERM under load: {len(in_flight)} in-flight requests all answered 200, new connections "
        f"refused, exit status {status} after {exited_after:.2f} s (grace period {GRACE_SECONDS} s)"
    )
