"""scripts/deploy.sh (make deploy / make undeploy) against the TEST DOUBLES of tests/doubles: kubectl and the
cluster behind it, docker, kind, k3s, k3d and minikube. kustomize runs for real (the real kubectl renders the
overlay), and capture-proof.sh runs for real against the real API. The image build itself runs for real with
podman in tests/container/test_deploy_build.py."""

import copy
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from devstack import ROOT
from doubles.cluster import DEPLOY_SETTINGS, DOUBLES, KIND_NODES, PODS, DoubledCluster, kind_cluster
from k8s.manifests import FILES, container, load

SCRIPT = ROOT / "scripts" / "deploy.sh"
THIS_MACHINE = os.uname().nodename  # what deploy.sh compares a k3s node with (uname -n)
K3S = "v1.35.8+k3s1"
NODES = {
    "kind": KIND_NODES,
    # k3s names its node after the host, lowercased.
    "k3s": [{"name": THIS_MACHINE.lower(), "kubelet": K3S}],
    "k3d": [{"name": f"k3d-demo-{role}-0", "kubelet": K3S} for role in ("server", "agent")],
    "minikube": [{"name": "minikube", "labels": {"minikube.k8s.io/name": "dev"}}],
    "other": [{"name": "gke-pool-1-abcd", "provider_id": "gce://project/europe-west1-b/gke-pool-1-abcd"}],
}
IMAGE_ID = "sha256:" + "4f1e2d3c4b5a" + "0" * 52
ORDER = ["Secret/mysql-secret", "Deployment/api-mysql", "Service/api-svc", "Ingress/api-ingress"]
OWNER_LABEL = ("app.kubernetes.io/managed-by", "deploy.sh")


@pytest.fixture
def cluster(tmp_path) -> DoubledCluster:
    """The kind cluster, with kubectl printing a klog warning on every call (deploy.sh must cope)."""
    return kind_cluster(tmp_path, klog_warning=True)


@dataclass
class DefaultDeploy:
    cluster: DoubledCluster
    result: subprocess.CompletedProcess
    committed: dict[str, bytes]  # the manifests as they were before the deploy


@pytest.fixture(scope="module")
def default_deploy(tmp_path_factory, api) -> DefaultDeploy:
    """One deploy with no settings on the kind cluster, for the tests that only read what it did (this
    module is one lane of the scheduler, so it runs once per run)."""
    committed = {name: (ROOT / name).read_bytes() for name in FILES.values()}
    cluster = kind_cluster(tmp_path_factory.mktemp("default-deploy"), klog_warning=True)
    return DefaultDeploy(cluster, deployed(cluster, api), committed)


@pytest.fixture
def deployed_cluster(tmp_path, default_deploy) -> DoubledCluster:
    """A cluster of the test's own, in the state the default deploy left (its call log starts empty)."""
    return DoubledCluster(tmp_path, **default_deploy.cluster.state)


def run_deploy(cluster: DoubledCluster, *args: str, path: str | None = None, **settings: str):
    """deploy.sh with none of its settings but `settings` (an empty value is an unset one for it)."""
    defaults = {"DOCKER_DOUBLE_IMAGE_ID": IMAGE_ID, **dict.fromkeys(DEPLOY_SETTINGS, "")}
    return cluster.run(SCRIPT, *args, path=path, **{**defaults, **settings})


def deployed(cluster: DoubledCluster, api, **settings: str) -> subprocess.CompletedProcess:
    """A deploy whose evidence checks go to the real API; it must succeed."""
    result = run_deploy(cluster, BASE_URL=api.base_url, **settings)
    assert result.returncode == 0, result.stderr
    return result


def stored(cluster: DoubledCluster, key: str, namespace: str = "default") -> dict:
    return cluster.state["objects"][f"{namespace}/{key}"]


def api_image(cluster: DoubledCluster) -> str:
    return container({"Deployment": stored(cluster, "Deployment/api-mysql")}, "api")["image"]


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("deploy: error:")]


def test_help_covers_every_kind_of_cluster_and_setting():
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for word in ("k3s", "kind", "minikube", "REGISTRY", "CLUSTER", "INGRESS_CLASS", "MYSQL_PASSWORD"):
        assert word in result.stdout
    for word in (
        "DEMO_SECRET",
        "BUILD_FLAGS",
        "undeploy",
        "kind load image-archive",
        "k3s ctr images import",
        "k3d image import",
        "k3d-NAME-server-0",
        "k3s.io/hostname",
    ):
        assert word in result.stdout


def test_make_deploy_and_make_undeploy_run_the_script():
    for target, command in (("deploy", "scripts/deploy.sh"), ("undeploy", "scripts/deploy.sh undeploy")):
        # --no-print-directory: under `make test` this make is a sub-make, which would announce its folder.
        result = subprocess.run(
            ["make", "--no-print-directory", "-n", target],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0 and result.stdout.splitlines() == [command], result.stdout


def test_deploy_applies_in_dependency_order_then_records_evidence(default_deploy, api):
    cluster, result = default_deploy.cluster, default_deploy.result
    assert [key for _, key in cluster.events("create", "apply")] == ORDER
    calls = cluster.calls()
    loaded_at = next(i for i, call in enumerate(calls) if call["tool"] == "kind")
    applied_at = next(i for i, call in enumerate(calls) if "apply" in call["args"])
    assert loaded_at < applied_at  # the image is in the cluster before the Deployment asks for it
    rollout = next(call["args"] for call in calls if "rollout" in call["args"])
    assert "--timeout=300s" in rollout and not any(arg.startswith("--request-timeout") for arg in rollout)
    url, evidence = result.stdout.splitlines()
    assert url == f"URL to try: {api.base_url}/users/1"
    summary = Path(evidence.removeprefix("Evidence:   "))
    assert "ALL 6 CHECKS PASSED" in summary.read_text()


def test_the_applied_objects_are_the_committed_ones_with_only_image_and_class_set(default_deploy):
    cluster = default_deploy.cluster
    manifests = load()  # whatever the files contain now, read at test time
    expected = copy.deepcopy(manifests)
    container(expected, "api")["image"] = f"localhost/user-api:{IMAGE_ID[7:19]}"
    expected["Ingress"]["spec"]["ingressClassName"] = "nginx"
    for kind, name in (("Deployment", "api-mysql"), ("Service", "api-svc"), ("Ingress", "api-ingress")):
        assert stored(cluster, f"{kind}/{name}") == expected[kind]
    assert (
        container({"Deployment": stored(cluster, "Deployment/api-mysql")}, "db")["image"]
        == container(manifests, "db")["image"]
    )
    assert {name: (ROOT / name).read_bytes() for name in FILES.values()} == default_deploy.committed


@pytest.mark.parametrize(
    ("classes", "settings", "chosen"),
    [
        ([{"name": "nginx", "default": True}, {"name": "traefik"}], {"INGRESS_CLASS": "traefik"}, "traefik"),
        ([{"name": "nginx"}, {"name": "cloud-provider-kind", "default": True}], {}, "cloud-provider-kind"),
        ([{"name": "traefik"}], {}, "traefik"),
    ],
    ids=["INGRESS_CLASS", "the default", "the only one"],
)
def test_the_ingress_class(cluster, api, classes, settings, chosen):
    cluster.update(ingress_classes=classes)
    deployed(cluster, api, **settings)
    assert stored(cluster, "Ingress/api-ingress")["spec"]["ingressClassName"] == chosen


@pytest.mark.parametrize(
    ("kind", "settings", "advice"),
    [
        ("k3s", {}, "--disable=traefik"),
        ("k3d", {}, "--disable=traefik"),
        ("kind", {}, "traefik-values.yaml"),
        ("minikube", {}, "minikube addons enable ingress"),
        ("other", {"REGISTRY": "registry.example.com:5000/team"}, "Traefik"),
    ],
)
def test_no_ingress_class_stops_with_how_to_install_a_controller(cluster, kind, settings, advice):
    cluster.update(ingress_classes=[], nodes=NODES[kind])
    result = run_deploy(cluster, **settings)
    assert result.returncode == 1
    (line,) = error_lines(result)
    assert "no IngressClass" in line and advice in line
    assert cluster.calls("docker") == [] and cluster.events() == []  # stopped before building anything


@pytest.mark.parametrize(
    ("classes", "settings", "message"),
    [
        ([{"name": "nginx"}, {"name": "traefik"}], {}, "several IngressClasses (nginx traefik) and none"),
        (
            [{"name": "nginx", "default": True}],
            {"INGRESS_CLASS": "traefik"},
            "no such IngressClass (it has: nginx)",
        ),
    ],
    ids=["several, no default", "INGRESS_CLASS missing"],
)
def test_an_ambiguous_or_missing_class_is_an_error(cluster, classes, settings, message):
    cluster.update(ingress_classes=classes)
    result = run_deploy(cluster, **settings)
    (line,) = error_lines(result)
    assert result.returncode != 0 and message in line and cluster.events() == []


def files_containing(directory, needle: bytes) -> list[str]:
    return [str(path) for path in directory.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_a_given_password_reaches_the_secret_and_nowhere_else(cluster, api, tmp_path):
    password = "pw-" + secrets.token_hex(12)
    result = deployed(cluster, api, MYSQL_PASSWORD=password)
    assert (
        cluster.state["secret_data"]["MYSQL_PASSWORD"]["sha256"]
        == hashlib.sha256(password.encode()).hexdigest()
    )
    assert stored(cluster, "Secret/mysql-secret")["metadata"]["labels"][OWNER_LABEL[0]] == OWNER_LABEL[1]
    assert password not in result.stdout + result.stderr
    assert not any(password in " ".join(call["args"]) for call in cluster.calls())  # what ps would show
    assert cluster.state["secret_value_in_process_list"] is False
    assert files_containing(tmp_path, password.encode()) == []  # evidence, temp files, logs


def test_without_a_password_one_is_generated_safe_for_the_mysql_entrypoint(default_deploy):
    assert default_deploy.cluster.state["secret_data"]["MYSQL_PASSWORD"] | {"sha256": ""} == {
        "sha256": "",
        "length": 48,
        "hex": True,
    }


def test_the_process_list_check_does_see_a_password_in_an_argument_list(cluster):
    # The control for the assertion above: a process showing the value in its arguments is caught.
    value = "pw-" + secrets.token_hex(12)
    shown = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", value], stdin=subprocess.PIPE
    )
    try:
        secret = f'{{"kind": "Secret", "metadata": {{"name": "s"}}, "stringData": {{"K": "{value}"}}}}'
        subprocess.run(
            [str(DOUBLES / "kubectl"), "create", "-f", "-"],
            input=secret,
            env=cluster.env(),
            text=True,
            check=True,
        )
    finally:
        shown.communicate(b"", timeout=30)
    assert cluster.state["secret_value_in_process_list"] is True


def test_an_existing_secret_is_never_overwritten(cluster, api):
    existing = {"metadata": {"name": "mysql-secret", "labels": {"team": "ours"}}}
    cluster.update(objects={"default/Secret/mysql-secret": existing})
    result = deployed(cluster, api, MYSQL_PASSWORD="another-" + secrets.token_hex(8))
    assert stored(cluster, "Secret/mysql-secret") == existing
    assert "Secret/mysql-secret" not in [key for _, key in cluster.events()]
    assert "secret/mysql-secret exists: kept as it is" in result.stderr
    # The password given is not silently dropped: the output says so and how to use it.
    assert "MYSQL_PASSWORD was not used: secret/mysql-secret already exists" in result.stderr
    assert "kubectl delete secret mysql-secret" in result.stderr


def test_DEMO_SECRET_applies_the_demo_file(cluster, api):
    deployed(cluster, api, DEMO_SECRET="1")
    demo_value = next(iter(load()["Secret"]["stringData"].values()))
    assert (
        cluster.state["secret_data"]["MYSQL_PASSWORD"]["sha256"]
        == hashlib.sha256(demo_value.encode()).hexdigest()
    )


@pytest.mark.parametrize("character", ["'", '"', "\\"])
def test_a_password_the_mysql_entrypoint_cannot_take_is_refused(cluster, character):
    password = f"pw{character}" + secrets.token_hex(8)
    result = run_deploy(cluster, MYSQL_PASSWORD=password)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "MYSQL_PASSWORD contains ' \" \\ or a newline" in line and password not in result.stderr
    assert cluster.calls() == []


def loads(cluster: DoubledCluster) -> list[dict]:
    return [call for call in cluster.calls() if call["tool"] in ("kind", "k3s", "k3d", "minikube")]


def assert_loaded_once(cluster: DoubledCluster, tool: str, words: list[str]) -> None:
    """The image went to the nodes with one call of `tool` (with `words` among its arguments)."""
    (load_call,) = loads(cluster)
    assert load_call["tool"] == tool and set(words) <= set(load_call["args"])
    assert load_call["images"] == [api_image(cluster)] == [f"localhost/user-api:{IMAGE_ID[7:19]}"]


def test_on_kind_the_image_is_loaded_with_kind_load_image_archive(default_deploy):
    assert_loaded_once(default_deploy.cluster, "kind", ["load", "image-archive", "--name", "demo"])


@pytest.mark.parametrize(
    ("nodes", "settings", "tool", "words"),
    [
        ("k3s", {}, "k3s", ["ctr", "images", "import", "-"]),
        ("k3d", {}, "k3d", ["image", "import", "--cluster", "demo"]),
        ("minikube", {}, "minikube", ["-p", "dev", "image", "load"]),
        ("kind", {"CLUSTER": "minikube"}, "minikube", ["image", "load"]),
        ("other", {"CLUSTER": "kind"}, "kind", ["load", "image-archive", "--name", "user-api"]),
    ],
    ids=["k3s", "k3d", "minikube", "CLUSTER overrides the nodes", "kind's name from the context"],
)
def test_the_image_is_loaded_the_way_the_cluster_needs(cluster, api, nodes, settings, tool, words):
    cluster.update(nodes=NODES[nodes])
    deployed(cluster, api, **settings)
    assert_loaded_once(cluster, tool, words)


def test_k3d_is_told_from_k3s_by_its_context_when_its_nodes_are_renamed(cluster, api):
    # k3s in k3d's containers: the kubelet says +k3s, and only the context k3d made says k3d.
    cluster.update(context="k3d-dev", nodes=[{"name": "dev-node", "kubelet": K3S}])
    result = deployed(cluster, api)
    assert "cluster: k3d (from its nodes and context)" in result.stderr
    assert_loaded_once(cluster, "k3d", ["image", "import", "--cluster", "dev"])


def path_without(cluster, tmp_path, *tools: str) -> str:
    """The doubles' PATH with the doubles of `tools` left out."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in {"kubectl", "docker", "k3s", "k3d", "kind", "minikube"} - set(tools):
        (bin_dir / tool).symlink_to(DOUBLES / tool)
    return f"{bin_dir}:{cluster.env()['PATH'].split(':', 1)[1]}"


def test_on_k3d_no_host_k3s_is_needed_and_a_missing_k3d_is_named(cluster, tmp_path):
    cluster.update(nodes=NODES["k3d"])
    result = run_deploy(cluster, path=path_without(cluster, tmp_path, "k3d", "k3s"))
    assert result.returncode == 2
    assert "missing required tool(s): k3d" in error_lines(result)[0]
    assert loads(cluster) == [] and cluster.calls("docker") == []


def test_a_k3s_node_named_otherwise_on_this_machine_is_found_by_k3s_hostname_annotation(cluster, api):
    # k3s started with --node-name keeps the host's name in this annotation.
    node = {"name": "exam-node", "kubelet": K3S, "annotations": {"k3s.io/hostname": THIS_MACHINE}}
    cluster.update(nodes=[node])
    deployed(cluster, api)
    assert_loaded_once(cluster, "k3s", ["ctr", "images", "import", "-"])


@pytest.mark.parametrize("settings", [{}, {"CLUSTER": "k3s"}], ids=["detected", "CLUSTER=k3s"])
def test_a_k3s_whose_node_is_another_machine_stops_and_names_REGISTRY(cluster, settings):
    other = f"{THIS_MACHINE}-not".lower()
    cluster.update(nodes=[{"name": other, "kubelet": K3S, "annotations": {"k3s.io/hostname": other}}])
    result = run_deploy(cluster, **settings)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert f"the k3s node {other} is not this machine ({THIS_MACHINE})" in line and "REGISTRY=" in line
    assert loads(cluster) == [] and cluster.calls("docker") == []  # no host `k3s ctr`, nothing built


def test_a_k3s_whose_node_is_another_machine_deploys_through_a_registry(cluster, api):
    cluster.update(nodes=[{"name": "k3s-on-a-vm", "kubelet": K3S}])
    deployed(cluster, api, REGISTRY="registry.example.com:5000/team")
    assert loads(cluster) == [] and api_image(cluster).startswith("registry.example.com:5000/team/")


def test_with_a_registry_the_image_is_pushed_and_pulled_from_there(cluster, api):
    cluster.update(nodes=NODES["other"])
    deployed(cluster, api, REGISTRY="registry.example.com:5000/team")
    reference = f"registry.example.com:5000/team/user-api:{IMAGE_ID[7:19]}"
    assert ["push", reference] in [call["args"] for call in cluster.calls("docker")]
    assert api_image(cluster) == reference and loads(cluster) == []


def test_a_multi_node_k3s_without_a_registry_is_refused(cluster):
    cluster.update(nodes=[*NODES["k3s"], {"name": "k3s-agent", "kubelet": K3S}])
    result = run_deploy(cluster)
    (line,) = error_lines(result)
    assert result.returncode == 2 and "2 nodes" in line and "REGISTRY=" in line
    assert cluster.calls("docker") == []


def test_a_code_change_rolls_out_again_and_an_unchanged_image_does_not(deployed_cluster, api):
    cluster = deployed_cluster
    deployed(cluster, api)  # the same image again: nothing to roll out
    assert cluster.events("rollout") == [("rollout", "Deployment/api-mysql")]
    changed = "sha256:" + "9a8b7c6d5e4f" + "1" * 52
    result = run_deploy(cluster, BASE_URL=api.base_url, DOCKER_DOUBLE_IMAGE_ID=changed)
    assert result.returncode == 0, result.stderr
    assert len(cluster.events("rollout")) == 2
    assert loads(cluster)[-1]["images"] == [api_image(cluster)] == ["localhost/user-api:9a8b7c6d5e4f"]


def test_a_failed_rollout_exits_non_zero_with_describe_and_events_of_the_pods_not_ready(cluster):
    cluster.update(pods=[*PODS[:2], {**PODS[2], "ready": False}], rollout_ok=False)
    result = run_deploy(cluster)
    assert result.returncode == 1
    (line,) = error_lines(result)
    assert "did not roll out within 300s" in line
    assert f"kubectl describe pod {PODS[2]['name']}" in result.stderr
    assert f"pod/{PODS[2]['name']}   Readiness probe failed" in result.stderr
    assert not any(f"describe pod {pod['name']}" in result.stderr for pod in PODS[:2])
    assert result.stdout == ""  # no evidence run, no URL


def test_undeploy_deletes_in_reverse_order_and_the_secret_it_created(deployed_cluster):
    cluster = deployed_cluster
    result = run_deploy(cluster, "undeploy")
    assert result.returncode == 0, result.stderr
    assert [key for _, key in cluster.events("delete")] == ORDER[::-1]
    assert cluster.state["objects"] == {}


def test_undeploy_leaves_a_secret_it_did_not_create(cluster):
    objects = {f"default/{key}": {"metadata": {"name": key.split("/")[1]}} for key in ORDER}
    cluster.update(objects=objects)
    result = run_deploy(cluster, "undeploy")
    assert result.returncode == 0, result.stderr
    assert [key for _, key in cluster.events("delete")] == ORDER[:0:-1]
    assert list(cluster.state["objects"]) == ["default/Secret/mysql-secret"]
    assert "secret/mysql-secret was not created by deploy.sh: left in place" in result.stderr
    again = run_deploy(cluster, "undeploy")  # nothing left to delete: still fine
    assert again.returncode == 0 and len(cluster.events("delete")) == 3


@pytest.mark.parametrize(
    ("state", "settings", "status", "message"),
    [
        ({}, {"CLUSTER": "openshift"}, 2, "CLUSTER=openshift is not one of k3s, k3d, kind, minikube"),
        ({}, {"REGISTRY": "not a registry"}, 2, "REGISTRY=not a registry is not a registry host"),
        ({"context": ""}, {}, 2, "kubectl has no current context"),
        (
            {"api_server_down": True},
            {},
            1,
            "kubectl cannot reach the cluster of context kind-user-api: The connection",
        ),
        ({"nodes": NODES["other"]}, {}, 2, "is not recognisably k3s, k3d, kind or minikube: set CLUSTER"),
    ],
    ids=["unknown CLUSTER", "bad REGISTRY", "no context", "API server down", "unknown cluster"],
)
def test_bad_input_gives_one_clear_error_line(cluster, state, settings, status, message):
    cluster.update(**state)
    result = run_deploy(cluster, **settings)
    assert result.returncode == status
    (line,) = error_lines(result)
    assert message in line
    assert cluster.calls("docker") == []


@pytest.mark.parametrize("argument", [["--bogus"], ["deploy", "extra"]])
def test_an_unknown_argument_is_refused(argument):
    result = subprocess.run([str(SCRIPT), *argument], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown argument" in result.stderr


def test_missing_tools_are_named(cluster, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash"))
    for tool in ("kubectl", "docker"):
        (bin_dir / tool).symlink_to(DOUBLES / tool)
    result = run_deploy(cluster, path=str(bin_dir))  # no jq, no curl
    assert result.returncode == 2
    assert "missing required tool(s): jq curl" in error_lines(result)[0]


def test_a_missing_cluster_tool_is_named(cluster, tmp_path):
    result = run_deploy(cluster, path=path_without(cluster, tmp_path, "kind"))
    assert result.returncode == 2
    assert "missing required tool(s): kind" in error_lines(result)[0]


def test_kubectl_kustomize_renders_exactly_the_four_committed_objects():
    # `kubectl apply -k .` and deploy.sh's overlays start from kustomization.yaml: it must add nothing.
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(ROOT)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert list(yaml.safe_load_all(rendered)) == list(load().values())  # also in dependency order
