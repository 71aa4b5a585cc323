"""Offline checks of the manifests: the Kubernetes API schema of every supported minor, yamllint, checkov."""

import json
import os

import pytest
from kubernetes_validate.utils import ValidationError, all_versions, validate

from devstack import ROOT
from k8s.manifests import FILES
from support.tools import run_tool

MANIFESTS = [str(ROOT / name) for name in FILES.values()]
# From 1.27 to the newest schema this kubernetes-validate release ships.
MINORS = sorted(
    {".".join(v.split(".")[:2]) for v in all_versions() if tuple(map(int, v.split(".")[:2])) >= (1, 27)},
    key=lambda v: tuple(map(int, v.split("."))),
)
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"


@pytest.mark.parametrize("minor", MINORS)
def test_kubernetes_validate_strict(manifests, minor):
    # In-process, as the kubernetes-validate command does it: one import, eleven schema versions.
    for document in manifests.values():
        validate(document, minor, strict=True)  # raises, naming the field, on any schema violation


def test_strict_validation_does_refuse_an_unknown_field(manifests):
    service = {**manifests["Service"], "spec": {**manifests["Service"]["spec"], "selectr": {"app": "x"}}}
    with pytest.raises(ValidationError, match="selectr"):
        validate(service, MINORS[-1], strict=True)


def test_yamllint():
    result = run_tool("yamllint", "--strict", *MANIFESTS, "compose.yml", ".yamllint.yaml", ".hadolint.yaml")
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


@pytest.fixture(scope="module")
def checkov_results(tmp_path_factory) -> dict[str, dict[str, list]]:
    """One checkov run over the committed manifests and an unhardened control Deployment.

    Returns {"committed" | "bare": {"passed" | "failed" | "skipped": [check, ...]}}.
    """
    bare = tmp_path_factory.mktemp("checkov") / "bare.yml"
    bare.write_text(BARE_DEPLOYMENT)
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}
    files = [*MANIFESTS, str(bare)]
    result = run_tool(
        CHECKOV,
        "--framework",
        "kubernetes",
        "--skip-download",
        "--output",
        "json",
        *[arg for f in files for arg in ("-f", f)],
        env=env,
    )
    report = json.loads(result.stdout)
    assert isinstance(report, dict) and report["check_type"] == "kubernetes", result.stdout[:500]
    results: dict[str, dict[str, list]] = {"committed": {}, "bare": {}}
    for outcome in ("passed", "failed", "skipped"):
        for check in report["results"][f"{outcome}_checks"]:
            side = "bare" if check["file_path"].endswith("bare.yml") else "committed"
            results[side].setdefault(outcome, []).append(check)
    return results


def test_checkov_passes_with_only_reasoned_skips(checkov_results, manifests):
    committed = checkov_results["committed"]
    assert [f"{c['check_id']} {c['resource']}" for c in committed.get("failed", [])] == []
    assert len(committed["passed"]) > 50
    skipped = {c["check_id"] for c in committed["skipped"]}
    annotated = {
        value.split("=", 1)[0]: value.split("=", 1)[1]
        for document in manifests.values()
        for key, value in document["metadata"].get("annotations", {}).items()
        if key.startswith("checkov.io/skip")
    }
    # Every skip carries a reason, and every skip is actually used (no stale skips).
    assert all(len(reason) > 30 for reason in annotated.values())
    assert skipped == set(annotated)


def test_checkov_does_fail_an_unhardened_deployment(checkov_results):
    failed = {c["check_id"] for c in checkov_results["bare"]["failed"]}
    assert {"CKV_K8S_20", "CKV_K8S_8", "CKV_K8S_13"} <= failed
