"""The GitHub Actions workflow: valid against GitHub's schema, clean under zizmor, and doing what the README
says a green run proves. It cannot run here (no GitHub runner, no Docker Hub); these checks are offline."""

import re

import pytest
import yaml

from devstack import ROOT
from k8s.manifests import container, load
from support.tools import run_tool

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
KIND_CONFIG = ROOT / ".github" / "kind" / "cluster.yaml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


@pytest.fixture(scope="module")
def workflow() -> dict:
    (path,) = WORKFLOWS
    return yaml.safe_load(path.read_text())


def steps(workflow: dict) -> list[tuple[str, dict]]:
    return [(name, step) for name, job in workflow["jobs"].items() for step in job["steps"]]


def uses_kind(step: dict) -> bool:
    return step.get("uses", "").startswith("helm/kind-action@")


def test_the_workflow_matches_githubs_schema():
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_of_medium_or_high_severity():
    result = run_tool("zizmor", "--offline", "--min-severity", "medium", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_finds_nothing():
    result = run_tool("yamllint", "--strict", *map(str, WORKFLOWS), str(KIND_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_checkers_do_report_bad_workflows(tmp_path):
    # So that the two checks above can fail: a job without runs-on for the schema; for zizmor an unpinned
    # action, a checkout that leaves its token on disk and an injectable expression.
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    invalid, insecure = folder / "invalid.yml", folder / "insecure.yml"
    invalid.write_text("on: push\njobs:\n  j:\n    steps:\n      - run: 'true'\n")
    insecure.write_text(
        "on: issues\npermissions: write-all\njobs:\n  j:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo ${{ github.event.issue.title }}\n"
    )
    schema = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(invalid))
    assert schema.returncode != 0 and "runs-on" in schema.stdout
    zizmor = run_tool("zizmor", "--offline", "--min-severity", "medium", str(insecure))
    assert zizmor.returncode != 0
    for audit in ("unpinned-uses", "artipacked", "template-injection"):
        assert audit in zizmor.stdout, zizmor.stdout


def test_it_runs_the_fast_checks_on_every_push_and_pull_request(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    assert any("make test-fast" in step.get("run", "") for _, step in steps(workflow))


def test_actions_are_pinned_by_commit_sha_and_the_token_only_reads(workflow):
    uses = [step["uses"] for _, step in steps(workflow) if "uses" in step]
    assert uses and all(PINNED.match(action) for action in uses), uses
    assert workflow["permissions"] == {}
    for job in workflow["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
    for _, step in steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_a_kind_job_runs_make_deploy_with_the_real_mysql_image_and_uploads_the_evidence(workflow):
    (kind_steps,) = [
        job["steps"] for job in workflow["jobs"].values() if any(uses_kind(step) for step in job["steps"])
    ]
    create = next(step for step in kind_steps if uses_kind(step))
    assert (ROOT / create["with"]["config"]) == KIND_CONFIG and KIND_CONFIG.exists()
    runs = [step.get("run", "") for step in kind_steps]
    deploy_at = next(i for i, run in enumerate(runs) if run.strip() == "make deploy")
    upload = next(step for step in kind_steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert kind_steps.index(upload) > deploy_at
    assert upload["with"]["path"] == "evidence/" and upload["if"] == "always()"
    # The real image: the committed Deployment names it, and nothing in the workflow swaps it for a stand-in.
    assert container(load(), "db")["image"] == "datascientest/mysql-k8s:1.0.0"
    text = WORKFLOWS[0].read_text()
    assert "standin" not in text and "mysql-k8s" in text
