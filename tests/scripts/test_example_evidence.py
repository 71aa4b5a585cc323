"""doc/example-evidence/ holds what scripts/capture-proof.sh writes today, and says how it was recorded.

The fresh run here goes through the kubectl test double to the API on a private MariaDB; the example was
recorded through the podman pods and the ingress stand-in (tests/k8s/record_example_evidence.py). A
passing run writes the same files either way: only a failed one adds files named after its Pods.
"""

import re
from pathlib import Path

import pytest

from devstack import ROOT
from k8s.record_example_evidence import EXAMPLE, RECORD_COMMAND, WRITTEN_BY_HAND, capture_proof

PODS = [{"name": f"api-mysql-6b7f-{n}", "ip": f"10.89.0.{7 + n}", "ready": True} for n in range(3)]
# What differs from one passing run to the next: the folder's timestamp and the address of the Ingress.
RUN_SPECIFIC = [
    (re.compile(r"\d{8}T\d{6}Z(-\d+)?"), "<timestamp>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "<address>"),
]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, api) -> Path:
    return capture_proof(tmp_path_factory.mktemp("capture"), PODS, api.base_url)


def without_run_specifics(text: str) -> str:
    for pattern, placeholder in RUN_SPECIFIC:
        text = pattern.sub(placeholder, text)
    return text


def test_the_example_holds_the_files_capture_proof_writes_today(fresh):
    recorded = {path.name for path in EXAMPLE.iterdir()} - WRITTEN_BY_HAND
    assert recorded == {path.name for path in fresh.iterdir()}, f"record it again: {RECORD_COMMAND}"


def test_the_example_summary_is_todays(fresh):
    recorded, today = ((folder / "SUMMARY.md").read_text() for folder in (EXAMPLE, fresh))
    assert without_run_specifics(recorded) == without_run_specifics(today), (
        f"record it again: {RECORD_COMMAND}"
    )


def test_the_example_says_it_is_not_from_a_cluster_and_how_to_record_it():
    readme = (EXAMPLE / "README.md").read_text()
    assert "recorded against the test stand-ins, not a real cluster" in readme
    assert RECORD_COMMAND in readme
    assert (ROOT / RECORD_COMMAND.split()[-1]).is_file()


def test_each_recorded_command_is_one_a_reader_can_type(fresh):
    # Learners copy these lines: they must name kubectl, not the script's internal wrapper.
    lines = [line for path in fresh.glob("*.txt") for line in path.read_text().splitlines()]
    commands = [line for line in lines if line.startswith("$ ")]
    assert commands
    assert [line for line in commands if not line.startswith("$ kubectl ")] == []
