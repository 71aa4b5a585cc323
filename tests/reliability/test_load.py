"""Under load, and with the database killed under load: no errors, no leak, no hang, recovery by itself."""

import re
import statistics
import subprocess
import threading
import time

import pytest

from devstack.api import ApiProcess
from reliability.load import Load, rss_kib, users_and_user

# wrk script: alternate /users and /users/1..100.
MIXED_LOAD = """
local sent = 0
request = function()
  sent = sent + 1
  if sent % 2 == 0 then return wrk.format("GET", "/users") end
  return wrk.format("GET", "/users/" .. (sent % 100 + 1))
end
"""
TOTAL_REQUESTS = 20_000


def test_20000_requests_at_64_connections_without_errors_or_memory_growth(mariadb, tmp_path, figure):
    script = tmp_path / "mixed.lua"
    script.write_text(MIXED_LOAD)
    with ApiProcess(mariadb.env()) as api:
        samples: list[tuple[float, int]] = []
        sampler_stop = threading.Event()

        def sample() -> None:
            while not sampler_stop.wait(0.1):
                samples.append((time.monotonic(), rss_kib(api.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        answered, outputs = 0, []
        # 5-second wrk runs until at least TOTAL_REQUESTS have been answered (at most 12 runs).
        while answered < TOTAL_REQUESTS and len(outputs) < 12:
            run = ["wrk", "-t1", "-c64", "-d5s", "--timeout=5s", "-s", str(script), api.base_url]
            outputs.append(subprocess.run(run, capture_output=True, text=True, timeout=60).stdout)
            answered += int(re.search(r"(\d+) requests in", outputs[-1]).group(1))
        seconds = time.monotonic() - started
        sampler_stop.set()
        sampler.join(5)
        logs = api.logs()
    output = "\n".join(outputs)
    assert answered >= TOTAL_REQUESTS, output
    assert "Non-2xx" not in output and "Socket errors" not in output, output
    middle = (samples[0][0] + samples[-1][0]) / 2
    first = statistics.mean(rss for at, rss in samples if at < middle)
    second = statistics.mean(rss for at, rss in samples if at >= middle)
    assert abs(second - first) / first < 0.10, (first, second)
    assert "Traceback" not in logs
    figure(
        f"{answered} requests at 64 connections in {seconds:.1f} s, 0 non-2xx, 0 socket errors; "
        f"RSS {first / 1024:.1f} MiB first half, {second / 1024:.1f} MiB second half"
    )


@pytest.mark.parametrize("failure", ["kill", "stop"])
def test_the_database_killed_under_load(new_mariadb, failure, figure):
    database = new_mariadb().start()
    with ApiProcess(database.env()) as api:
        load = Load(api.base_url, users_and_user, concurrency=16, max_seconds=30).start()
        time.sleep(2)
        getattr(database, failure)()
        down_at = time.monotonic()
        time.sleep(2)
        restarting_at = time.monotonic()
        database.start()
        back_at = time.monotonic()
        time.sleep(4)
        load.stop.set()
        load.wait()
        assert api.running()
    results = load.results()
    assert set(results) <= {200, 503}, results  # no 500, no hung or dropped request
    assert results[503] > 0 and results[200] > 0
    assert max(outcome.seconds for outcome in load.outcomes) < 2.5  # read timeout 2 s: nothing hangs
    first_200_after = min(o.finished for o in load.outcomes if o.result == 200 and o.started > back_at)
    recovery = first_200_after - back_at
    assert recovery < 5
    outage = [o for o in load.outcomes if down_at < o.started and o.finished < restarting_at]
    figure(
        f"{failure}: {results[200]} x 200, {results[503]} x 503; during the outage "
        f"{sum(o.result == 503 for o in outage)}/{len(outage)} answered 503 within "
        f"{max(o.seconds for o in outage):.2f} s; 200 again {recovery:.2f} s after MySQL came back"
    )
