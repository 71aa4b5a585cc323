"""scripts/bench.py runs end to end in a tiny configuration and reports the three-way comparison. The
figures themselves are not judged here: they are read from a full run (doc/PERFORMANCE.md)."""

import re
import subprocess
import sys

import pytest

from devstack import ROOT

STALL_SECONDS = 3
SERVICES = ("project", "textbook", "naive")


def run_bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/bench.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def table(output: str, title: str) -> dict[str, dict[str, str]]:
    """The printed table under the line starting with `title`: first cell of each row -> {header: cell}."""
    lines = output.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(title))
    header = re.split(r"\s{2,}", lines[start + 1].strip())
    rows = {}
    for line in lines[start + 3 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


@pytest.fixture(scope="module")
def output() -> str:
    # One round of 1 s per endpoint and service, no warm-up: the whole run, quickly.
    result = run_bench(
        "--duration", "1", "--rounds", "1", "--warmup", "0", "--stall-seconds", str(STALL_SECONDS)
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_the_table_gives_each_services_speed_and_the_projects_ratio_to_each_baseline(output):
    rows = table(output, "Medians of 1 rounds")
    assert set(rows) == {"/status", "/users", "/users/{id}"}
    for row in rows.values():
        for baseline in ("textbook", "naive"):
            ratio = float(row[f"x {baseline}"].removesuffix("x"))
            speed = float(row["project req/s"]) / float(row[f"{baseline} req/s"])
            assert ratio == pytest.approx(speed, rel=0.01)
        assert all(float(row[f"{name} p99 ms"]) > 0 for name in SERVICES)
        assert row["errors"] == "0"


def test_the_goal_verdict_follows_the_table(output):
    rows = table(output, "Medians of 1 rounds")
    for endpoint in ("/users", "/users/{id}"):
        goal_lines = output.split("\nGoal:", 1)[1].splitlines()
        line = next(line for line in goal_lines if line.strip().startswith(f"{endpoint} "))
        speed_verdict, p99_verdict = re.findall(r": (met|MISSED)", line)
        row = rows[endpoint]
        fast_enough = float(row["x textbook"].removesuffix("x")) >= 1.5
        lower_p99 = float(row["project p99 ms"]) < float(row["textbook p99 ms"])
        assert (speed_verdict == "met", p99_verdict == "met") == (fast_enough, lower_p99)


def test_in_a_db_stall_only_the_project_gives_up_at_its_deadline(output):
    answers = {
        name: re.findall(r"(\w+) after ([\d.]+) s", row[f"/users, {len(SERVICES)} clients"])
        for name, row in table(output, "DB stall").items()
    }
    # The project can only have answered 503 while the table was locked: once the lock goes, the query
    # succeeds. The baselines have no deadline and wait out the whole lock.
    assert [status for status, _ in answers["project"]] == ["503"] * 3
    for name in ("textbook", "naive"):
        assert [status for status, _ in answers[name]] == ["200"] * 3
        assert all(float(seconds) >= STALL_SECONDS for _, seconds in answers[name])


def test_in_a_db_stall_only_the_naive_services_liveness_goes_silent(output):
    status = {
        name: row["/status while locked (8 connections)"] for name, row in table(output, "DB stall").items()
    }
    assert status["naive"] == "none"
    assert all(status[name].endswith("ms") for name in ("project", "textbook"))


def test_a_missing_wrk_is_named(tmp_path):
    result = run_bench("--duration", "1", env={"PATH": str(tmp_path)})
    assert result.returncode == 1
    assert "wrk not found" in result.stderr and "Traceback" not in result.stderr


def test_a_duration_below_one_second_is_refused():
    result = run_bench("--duration", "0")
    assert result.returncode == 2
    assert "--duration" in result.stderr and "Traceback" not in result.stderr
