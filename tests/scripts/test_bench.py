"""scripts/bench.py runs end to end and reports every figure; the numbers themselves are not judged here
(performance is read from the benchmark's output, see doc/PERFORMANCE.md)."""

import re
import subprocess
import sys

from devstack import ROOT

STALL_SECONDS = 3


def stall_answers(output: str, service: str) -> list[tuple[str, float]]:
    line = next(row for row in output.splitlines() if row.strip().startswith(service) and "after" in row)
    return [(status, float(seconds)) for status, seconds in re.findall(r"(\w+) after ([\d.]+) s", line)]


def test_the_benchmark_runs_and_prints_its_tables():
    result = subprocess.run(
        [
            sys.executable,
            "scripts/bench.py",
            "--duration",
            "1",
            "--rounds",
            "1",
            "--warmup",
            "0",  # the warm-up is the same wrk run, unmeasured; a smoke run does not need it
            "--stall-seconds",
            str(STALL_SECONDS),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert "Medians of 1 rounds" in out
    for endpoint in ("/status", "/users", "/users/{id}"):
        assert f"round 1 {endpoint}" in out
    # Under the stall the project gives up with a 503: it can only have answered while the table was
    # locked, since once the lock goes the query succeeds. The baseline waits out the whole lock.
    assert [status for status, _ in stall_answers(out, "project")] == ["503"] * 3
    baseline = stall_answers(out, "baseline")
    assert len(baseline) == 3 and all(
        status == "200" and seconds >= STALL_SECONDS for status, seconds in baseline
    )
