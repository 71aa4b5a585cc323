"""Offline checks of the manifests: the Kubernetes API schema of every supported minor, yamllint, checkov."""

import json
import os

import pytest
from kubernetes_validate.utils import all_versions

from devstack import ROOT
from k8s.manifests import FILES, load
from support.tools import run_tool

MANIFESTS = [str(ROOT / name) for name in FILES.values()]
# From 1.27 to the newest schema this kubernetes-validate release ships.
MINORS = sorted(
    {".".join(v.split(".")[:2]) for v in all_versions() if tuple(map(int, v.split(".")[:2])) >= (1, 27)},
    key=lambda v: tuple(map(int, v.split("."))),
)
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"


@pytest.mark.parametrize("minor", MINORS)
def test_kubernetes_validate_strict(minor):
    result = run_tool("kubernetes-validate", "--strict", "-k", minor, *MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == len(MANIFESTS)


def test_yamllint():
    result = run_tool("yamllint", "--strict", *MANIFESTS, "compose.yml", ".yamllint.yaml", ".hadolint.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def checkov(*files: str) -> dict:
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}
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
    return report


def test_checkov_passes_with_only_reasoned_skips():
    report = checkov(*MANIFESTS)
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 50
    skipped = {c["check_id"] for c in report["results"]["skipped_checks"]}
    annotated = {
        value.split("=", 1)[0]: value.split("=", 1)[1]
        for document in load().values()
        for key, value in document["metadata"].get("annotations", {}).items()
        if key.startswith("checkov.io/skip")
    }
    # Every skip carries a reason, and every skip is actually used (no stale skips).
    assert all(len(reason) > 30 for reason in annotated.values())
    assert skipped == set(annotated)


def test_checkov_does_fail_an_unhardened_deployment(tmp_path):
    bare = tmp_path / "bare.yml"
    bare.write_text("""apiVersion: apps/v1
kind: Deployment
metadata: {name: bare, namespace: demo}
spec:
  selector: {matchLabels: {app: bare}}
  template:
    metadata: {labels: {app: bare}}
    spec:
      containers: [{name: app, image: "example/app:1.0"}]
""")
    report = checkov(str(bare))
    assert {"CKV_K8S_20", "CKV_K8S_8", "CKV_K8S_13"} <= {
        c["check_id"] for c in report["results"]["failed_checks"]
    }
