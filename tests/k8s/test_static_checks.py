"""Offline checks of the manifests: the Kubernetes API schema of every supported minor, yamllint, checkov."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes_validate.utils import all_versions, validate

from devstack import ROOT
from k8s.manifests import FILES
from support.tools import run_tool

NAMES = list(FILES.values())
MANIFESTS = [str(ROOT / name) for name in NAMES]
# From 1.27 to the newest schema this kubernetes-validate release ships.
MINORS = sorted(
    {".".join(v.split(".")[:2]) for v in all_versions() if tuple(map(int, v.split(".")[:2])) >= (1, 27)},
    key=lambda v: tuple(map(int, v.split("."))),
)
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"
CHECKOV_CONFIG = ROOT / ".checkov.yaml"


@pytest.mark.parametrize("minor", MINORS)
def test_kubernetes_validate_strict(manifests, minor):
    # In-process, as the kubernetes-validate command does it: one import, eleven schema versions.
    for document in manifests.values():
        validate(document, minor, strict=True)  # raises, naming the field, on any schema violation


def test_yamllint():
    result = run_tool(
        "yamllint", "--strict", *MANIFESTS, "compose.yml", ".yamllint.yaml", ".hadolint.yaml", ".checkov.yaml"
    )
    assert result.returncode == 0, result.stdout + result.stderr


BARE_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: bare, namespace: demo}
spec:
  selector: {matchLabels: {app: bare}}
  template:
    metadata: {labels: {app: bare}}
    spec:
      containers: [{name: app, image: "example/app:1.0"}]
"""
# What the control Deployment must fail: checks the committed manifests pass and the config never skips.
UNHARDENED = {"CKV_K8S_20", "CKV_K8S_8", "CKV_K8S_13"}  # privilege escalation, liveness probe, memory limit


def skip_reasons(config_text: str) -> dict[str, str]:
    """.checkov.yaml's skipped checks, each with the comment lines right above it (its reason)."""
    reasons, comment = {}, []
    for line in config_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("# "))
        elif stripped.startswith("- "):
            reasons[stripped[2:]] = " ".join(comment)
            comment = []
        else:
            comment = []
    return reasons


CHECKOV_TEXT = CHECKOV_CONFIG.read_text()
SKIP_REASONS = skip_reasons(CHECKOV_TEXT)


def checkov(files: list[str], cwd: Path, home: Path) -> subprocess.Popen:
    """checkov over `files`, started in `cwd`: it reads .checkov.yaml from there (and from HOME, so the
    tests give it an empty one)."""
    env = {
        **os.environ,
        "HOME": str(home),
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
        "BC_SKIP_MAPPING": "TRUE",
    }
    command = [CHECKOV, "--framework", "kubernetes", "--skip-download", "--output", "json"]
    return subprocess.Popen(
        [*command, *[arg for f in files for arg in ("-f", f)]],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def outcomes(run: subprocess.Popen) -> dict[str, dict[str, set[str]]]:
    """{file name: {"passed" | "failed" | "skipped": {check id, ...}}} of a finished checkov run."""
    stdout, _ = run.communicate(timeout=300)
    report = json.loads(stdout)
    assert isinstance(report, dict) and report["check_type"] == "kubernetes", stdout[:500]
    found: dict[str, dict[str, set[str]]] = {}
    for outcome in ("passed", "failed", "skipped"):
        for check in report["results"][f"{outcome}_checks"]:
            by_outcome = found.setdefault(Path(check["file_path"]).name, {})
            by_outcome.setdefault(outcome, set()).add(check["check_id"])
    return found


@pytest.fixture(scope="module")
def checkov_runs(tmp_path_factory) -> dict[str, dict[str, dict[str, set[str]]]]:
    """Two checkov runs side by side, as anyone runs it: "configured" in the checkout, so it reads
    .checkov.yaml, over the committed manifests and an unhardened control Deployment; "unconfigured"
    elsewhere, with no config, over the committed manifests."""
    elsewhere = tmp_path_factory.mktemp("checkov")
    (elsewhere / "bare.yml").write_text(BARE_DEPLOYMENT)
    runs = {
        "configured": checkov([*MANIFESTS, str(elsewhere / "bare.yml")], ROOT, elsewhere),
        "unconfigured": checkov(MANIFESTS, elsewhere, elsewhere),
    }
    return {name: outcomes(run) for name, run in runs.items()}


def ids(results: dict[str, dict[str, set[str]]], outcome: str, files=NAMES) -> set[str]:
    return {check for name in files for check in results.get(name, {}).get(outcome, set())}


def test_checkov_passes_the_committed_manifests(checkov_runs):
    assert ids(checkov_runs["configured"], "failed") == set()


def test_every_skip_has_a_reason_and_is_needed(checkov_runs):
    reasons = SKIP_REASONS
    assert set(reasons) == set(yaml.safe_load(CHECKOV_TEXT)["skip-check"])
    assert [check for check, reason in reasons.items() if not reason] == []
    # Without the config, exactly the skipped checks fail.
    failing = ids(checkov_runs["unconfigured"], "failed")
    assert set(reasons) - failing == set(), "skips that no manifest needs any more"
    assert failing - set(reasons) == set(), "failures that no skip accounts for"


def test_checkov_does_fail_an_unhardened_deployment(checkov_runs):
    assert not UNHARDENED & set(SKIP_REASONS)
    assert ids(checkov_runs["configured"], "failed", files=["bare.yml"]) >= UNHARDENED


def anchors_and_aliases(text: str) -> list[str]:
    """Each YAML anchor (&name) and alias (*name) in a file, as "&name line N"."""
    marks = {yaml.AnchorToken: "&", yaml.AliasToken: "*"}
    return [
        f"{marks[type(token)]}{token.value} line {token.start_mark.line + 1}"
        for token in yaml.scan(text)
        if type(token) in marks
    ]


def foreign_annotations(document: dict) -> list[str]:
    """Annotations outside the kubernetes.io and k8s.io domains (where Kubernetes and ingress controllers
    read theirs), on the object, its Pod template, or every object of a kustomization."""
    annotations = {
        **document.get("metadata", {}).get("annotations", {}),
        **document.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {}),
        **document.get("commonAnnotations", {}),
    }
    kubernetes = re.compile(r"^([\w.-]+\.)?(kubernetes\.io|k8s\.io)/")
    return [key for key in annotations if not kubernetes.match(key)]


def test_anchors_and_tool_annotations_are_found():
    probe = "exec: &ping {command: [true]}\nreadinessProbe: {exec: *ping}\n"
    assert anchors_and_aliases(probe) == ["&ping line 1", "*ping line 2"]
    annotated = {"metadata": {"annotations": {"checkov.io/skip1": "x", "kubernetes.io/change-cause": "y"}}}
    assert foreign_annotations(annotated) == ["checkov.io/skip1"]


@pytest.mark.parametrize("name", [*NAMES, "kustomization.yaml"])
def test_the_manifests_carry_nothing_for_tools_and_no_anchors(name):
    # Learners copy blocks out of these files one at a time: an alias breaks without its anchor.
    text = (ROOT / name).read_text()
    assert anchors_and_aliases(text) == []
    assert "checkov" not in text.lower()  # skips live in .checkov.yaml, inline ones too (# checkov:skip=)
    assert [key for document in yaml.safe_load_all(text) for key in foreign_annotations(document)] == []
