"""The GitHub Actions workflow: valid against GitHub's schema, clean under zizmor (which also keeps the token
read-only and checkout without stored credentials), every action and installer pinned, no retired
ingress-nginx, no wait on a selector, and the cluster jobs doing what the README says a green run proves. It
cannot run here (no GitHub runner, no Docker Hub, no cluster); these checks are offline."""

import re

import pytest
import yaml

from devstack import ROOT
from k8s.manifests import container, load
from support.tools import run_tool

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
KIND = ROOT / ".github" / "kind"
KIND_CONFIG = KIND / "cluster.yaml"
TRAEFIK_VALUES = KIND / "traefik-values.yaml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
COMMIT = re.compile(r"/[0-9a-f]{40}/")
URL = re.compile(r"https://[^\s\"'>)]+")
K3S_VERSION = re.compile(r"v1\.\d+\.\d+\+k3s\d+")
CLUSTER_JOBS = ["k3s", "kind"]


@pytest.fixture(scope="module")
def workflow() -> dict:
    (path,) = WORKFLOWS
    return yaml.safe_load(path.read_text())


def steps(workflow: dict) -> list[tuple[str, dict]]:
    return [(name, step) for name, job in workflow["jobs"].items() for step in job["steps"]]


def runs(job: dict) -> list[str]:
    """The shell of each step, "" for a step that uses an action."""
    return [step.get("run", "") for step in job["steps"]]


def index_of(job: dict, predicate) -> int:
    return next(i for i, step in enumerate(job["steps"]) if predicate(step))


def action(job: dict, name: str) -> dict:
    """The step that uses the action `name` (owner/repo)."""
    return job["steps"][index_of(job, lambda step: step.get("uses", "").startswith(f"{name}@"))]


def unpinned(workflow: dict) -> list[str]:
    """What the workflow fetches without pinning it, one sentence each: actions not pinned by commit SHA,
    Helm charts without --version, downloads whose URL names no commit or whose content no sha256sum
    checks, anything piped into a shell, k3s without INSTALL_K3S_VERSION, kind and Helm setups without a
    version."""
    problems = []
    for name, job in workflow["jobs"].items():
        text = yaml.safe_dump(job, width=10_000)  # run lines and env values alike
        lines = [line for run in runs(job) for line in run.splitlines()]
        for step in job["steps"]:
            uses = step.get("uses")
            if uses and not PINNED.match(uses):
                problems.append(f"{name}: action {uses} is not pinned by commit SHA")
            installer = (uses or "").split("@")[0]
            if installer in ("helm/kind-action", "azure/setup-helm") and "version" not in step.get(
                "with", {}
            ):
                problems.append(f"{name}: {installer} without a version")
        charts = [line for line in lines if re.search(r"\bhelm (upgrade|install)\b", line)]
        problems += [
            f"{name}: Helm chart without --version: {line}" for line in charts if "--version" not in line
        ]
        chart_repositories = {url for line in charts for url in URL.findall(line)}
        for url in set(URL.findall(text)) - chart_repositories:
            if not (COMMIT.search(url) and "sha256sum --check" in text):
                problems.append(f"{name}: {url} is neither pinned to a commit nor checked with sha256sum")
        if re.search(r"\|\s*(sudo\s+)?(env\s+\S+\s+)*(ba)?sh\b", text):
            problems.append(f"{name}: a download is piped into a shell")
        if "k3s" in text and "install.sh" in text:
            version = str(job.get("env", {}).get("INSTALL_K3S_VERSION", ""))
            if not K3S_VERSION.fullmatch(version):
                problems.append(f"{name}: k3s's installer without an exact INSTALL_K3S_VERSION")
    return problems


def ingress_nginx_jobs(workflow: dict) -> list[str]:
    return [name for name, job in workflow["jobs"].items() if "ingress-nginx" in yaml.safe_dump(job)]


def test_the_workflow_matches_githubs_schema():
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing():
    result = run_tool("zizmor", "--offline", *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_finds_nothing():
    result = run_tool("yamllint", "--strict", *map(str, WORKFLOWS), str(KIND_CONFIG), str(TRAEFIK_VALUES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_checkers_do_report_bad_workflows(tmp_path):
    # So that the two checks above can fail: a job without runs-on for the schema; for zizmor an unpinned
    # action, a checkout that leaves its token on disk, an injectable expression and the default token rights.
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    invalid, insecure = folder / "invalid.yml", folder / "insecure.yml"
    invalid.write_text("on: push\njobs:\n  j:\n    steps:\n      - run: 'true'\n")
    insecure.write_text(
        "on: issues\njobs:\n  j:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo ${{ github.event.issue.title }}\n"
    )
    schema = run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(invalid))
    assert schema.returncode != 0 and "runs-on" in schema.stdout
    zizmor = run_tool("zizmor", "--offline", str(insecure))
    assert zizmor.returncode != 0
    for audit in ("unpinned-uses", "artipacked", "template-injection", "excessive-permissions"):
        assert audit in zizmor.stdout, zizmor.stdout


def test_every_action_and_installer_is_pinned_and_no_job_installs_ingress_nginx(workflow):
    assert unpinned(workflow) == []
    assert ingress_nginx_jobs(workflow) == []
    for path in (KIND_CONFIG, TRAEFIK_VALUES):
        assert "ingress-nginx" not in path.read_text()


def test_the_pin_check_reports_what_the_old_workflow_did_and_more():
    bad = {
        "jobs": {
            "kind": {
                "steps": [
                    {"uses": "actions/checkout@v4"},
                    {"uses": "helm/kind-action@a1b0e391336a6ee6713a0583f8c6240d70863de3"},
                    {
                        "run": "kubectl apply -f https://raw.githubusercontent.com/kubernetes/ingress-nginx/"
                        "controller-v1.12.1/deploy/static/provider/kind/deploy.yaml"
                    },
                    {"run": "helm upgrade --install traefik traefik --repo https://traefik.github.io/charts"},
                ]
            },
            "k3s": {"steps": [{"run": "curl -sfL https://get.k3s.io | sh -"}]},
        }
    }
    problems = "\n".join(unpinned(bad))
    for expected in (
        "action actions/checkout@v4 is not pinned",
        "helm/kind-action without a version",
        "controller-v1.12.1/deploy/static/provider/kind/deploy.yaml is neither pinned",
        "Helm chart without --version",
        "https://get.k3s.io is neither pinned",
        "k3s: a download is piped into a shell",
    ):
        assert expected in problems, problems
    assert ingress_nginx_jobs(bad) == ["kind"]


def test_it_runs_the_fast_checks_on_every_push_and_pull_request(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    assert any("make test-fast" in step.get("run", "") for _, step in steps(workflow))


def test_the_jobs_pull_the_mysql_image_the_deployment_names(workflow):
    # compose.yml names the same one (test_wiring).
    assert workflow["env"]["MYSQL_IMAGE"] == container(load(), "db")["image"]


@pytest.mark.parametrize("name", CLUSTER_JOBS)
def test_a_cluster_job_loads_mysql_then_runs_make_deploy_and_keeps_evidence_and_diagnostics(workflow, name):
    job = workflow["jobs"][name]
    deploy_at = runs(job).index("make deploy")
    pull_at = index_of(job, lambda step: "MYSQL_IMAGE" in step.get("run", "") and "pull" in step["run"])
    assert pull_at < deploy_at  # the rollout's timeout covers MySQL's start, not a 500 MB download
    checked_at = runs(job).index(".github/scripts/check-ingress-served.sh")
    diagnostics_at = index_of(job, lambda step: "cluster-diagnostics.sh" in step.get("run", ""))
    upload = action(job, "actions/upload-artifact")
    assert deploy_at < checked_at < diagnostics_at < job["steps"].index(upload)
    assert job["steps"][diagnostics_at]["if"] == "failure()"
    assert upload["if"] == "always()" and upload["with"]["path"] == "evidence/"
    assert upload["with"]["name"] == f"evidence-{name}"


def test_no_job_waits_on_a_selector(workflow):
    # Right after an apply (or a start) no Pod may exist yet, and `kubectl wait --selector` then returns at
    # once (kubernetes-sigs/kind#2293): waits are on a rollout, helm --wait, or --for=create.
    for name, step in steps(workflow):
        for line in step.get("run", "").splitlines():
            if "kubectl wait" in line:
                assert "--for=create" in line and not re.search(r"(--selector|\s-l)\b", line), (name, line)


def test_the_k3s_job_deploys_with_the_traefik_k3s_ships_into_a_restricted_namespace(workflow):
    job = workflow["jobs"]["k3s"]
    install = next(run for run in runs(job) if "k3s-install.sh" in run)
    assert "traefik" not in job["env"].get("INSTALL_K3S_EXEC", "") + install  # not disabled
    namespace_at = index_of(
        job, lambda step: "pod-security.kubernetes.io/enforce=restricted" in step.get("run", "")
    )
    namespace = job["steps"][namespace_at]["run"]
    assert "kubectl config set-context --current --namespace=" in namespace  # where make deploy applies
    assert namespace_at < runs(job).index("make deploy")


def test_the_kind_job_installs_traefik_from_its_pinned_chart_with_the_committed_values(workflow):
    job = workflow["jobs"]["kind"]
    assert ROOT / action(job, "helm/kind-action")["with"]["config"] == KIND_CONFIG
    helm_at = index_of(job, lambda step: "helm upgrade --install traefik" in step.get("run", ""))
    assert f"--values {TRAEFIK_VALUES.relative_to(ROOT)}" in job["steps"][helm_at]["run"]
    assert helm_at < runs(job).index("make deploy")


def test_kinds_traefik_is_the_default_class_on_the_port_kind_publishes():
    values = yaml.safe_load(TRAEFIK_VALUES.read_text())
    (node,) = yaml.safe_load(KIND_CONFIG.read_text())["nodes"]
    # The Ingress names no class: the cluster's default serves it.
    assert values["ingressClass"]["enabled"] is values["ingressClass"]["isDefaultClass"] is True
    # Traefik takes the node's port 80, which kind publishes on the runner, on the node that publishes it.
    assert {"containerPort": values["ports"]["web"]["hostPort"], "hostPort": 80, "protocol": "TCP"} in node[
        "extraPortMappings"
    ]
    assert values["nodeSelector"].items() <= node["labels"].items()
    # The Ingress's address is where the runner reaches Traefik, not a load balancer kind does not have.
    ingress = values["providers"]["kubernetesIngress"]
    assert ingress["publishedService"]["enabled"] is False and ingress["ingressEndpoint"]["ip"] == "127.0.0.1"
    assert values["service"]["spec"]["type"] == "ClusterIP"


def test_the_compose_job_proves_the_api_image_against_mysql_8_and_keeps_its_evidence(workflow):
    job = workflow["jobs"]["compose"]
    up_at = index_of(job, lambda step: "docker compose up" in step.get("run", ""))
    fetch_at = index_of(job, lambda step: "curl --fail" in step.get("run", ""))
    assert "--wait" in job["steps"][up_at]["run"] and up_at < fetch_at
    upload = action(job, "actions/upload-artifact")
    assert upload["if"] == "always()" and job["env"]["EVIDENCE"].startswith(upload["with"]["path"])
