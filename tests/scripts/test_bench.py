"""scripts/bench.py runs end to end and reports every figure; the numbers themselves are not judged here
(performance is read from the benchmark's output, see doc/PERFORMANCE.md)."""

import re
import subprocess
import sys

from devstack import ROOT


def test_the_benchmark_runs_and_prints_its_tables():
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--duration", "1", "--rounds", "1", "--stall-seconds", "3"],
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
    # Under the stall the project answers 503 within its 2 s read timeout; the baseline waits for the lock.
    project_stall = next(
        line for line in out.splitlines() if line.strip().startswith("project") and "after" in line
    )
    answers = re.findall(r"(\d{3}) after ([\d.]+) s", project_stall)
    assert len(answers) == 3 and all(status == "503" and float(seconds) < 2.1 for status, seconds in answers)
    baseline_stall = next(
        line for line in out.splitlines() if line.strip().startswith("baseline") and "after" in line
    )
    assert "200 after 3." in baseline_stall, baseline_stall
