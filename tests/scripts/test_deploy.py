"""scripts/deploy.sh (make deploy, make exam, make undeploy) against the TEST DOUBLES of tests/doubles:
kubectl and the API server behind it, docker, k3s, kind and minikube. kubectl's client side runs for real (it
reads the manifests), and capture-proof.sh runs for real against the real API. The image build runs for real
with podman in tests/container/test_deploy_build.py."""

import copy
import hashlib
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

SCRIPT = Path("scripts") / "deploy.sh"
K3S = "v1.35.8+k3s1"
NODES = {
    "kind": KIND_NODES,
    "k3s": [{"name": "vm", "kubelet": K3S}],
    "k3d": [{"name": f"k3d-demo-{role}-0", "kubelet": K3S} for role in ("server", "agent")],
    "minikube": [{"name": "minikube", "labels": {"minikube.k8s.io/name": "dev"}}],
    "other": [{"name": "gke-pool-1-abcd", "provider_id": "gce://project/europe-west1-b/gke-pool-1-abcd"}],
}
IMAGE_ID = "sha256:" + "4f1e2d3c4b5a" + "0" * 52
LOCAL_IMAGE = f"localhost/user-api:{IMAGE_ID[7:19]}"
REGISTRY = "docker.io/learner"
PUSHED_IMAGE = f"{REGISTRY}/user-api:{IMAGE_ID[7:19]}"
ORDER = ["Secret/mysql-secret", "Deployment/api-mysql", "Service/api-svc", "Ingress/api-ingress"]
OWNER_LABEL = ("app.kubernetes.io/managed-by", "deploy.sh")
EXAM_PASSWORD = "datascientest1234"
RENDERINGS = ["main.py", "database.py", *FILES.values()]  # database.py: main.py imports it


def checkout_copy(folder: Path) -> Path:
    """A copy of this checkout's files (committed or not, git-ignored ones left out), for runs that write into
    the checkout (exam/) or that need other manifests."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, folder / name)
    return folder


def run_deploy(
    cluster: DoubledCluster, *args: str, checkout: Path = ROOT, path: str | None = None, **settings: str
):
    """deploy.sh of `checkout`, with none of its settings but `settings` (an empty value is an unset one)."""
    defaults = {"DOCKER_DOUBLE_IMAGE_ID": IMAGE_ID, "BASE_URL": "", **dict.fromkeys(DEPLOY_SETTINGS, "")}
    return cluster.run(checkout / SCRIPT, *args, path=path, **{**defaults, **settings})


def deployed(cluster: DoubledCluster, api, *args: str, **settings: str) -> subprocess.CompletedProcess:
    """A run whose evidence checks go to the real API; it must succeed."""
    result = run_deploy(cluster, *args, BASE_URL=api.base_url, **settings)
    assert result.returncode == 0, result.stderr
    return result


def stored(cluster: DoubledCluster, key: str) -> dict:
    return cluster.state["objects"][f"default/{key}"]


def api_image(cluster: DoubledCluster) -> str:
    return container({"Deployment": stored(cluster, "Deployment/api-mysql")}, "api")["image"]


def secret_sha256(cluster: DoubledCluster) -> str:
    return stored(cluster, "Secret/mysql-secret")["data"]["MYSQL_PASSWORD"]["sha256"]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("deploy: error:")]


def warning_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("deploy: warning:")]


def loads(cluster: DoubledCluster) -> list[dict]:
    return [call for call in cluster.calls() if call["tool"] in ("kind", "k3s", "minikube")]


def path_without(cluster: DoubledCluster, folder: Path, *tools: str) -> str:
    """The doubles' PATH with the doubles of `tools` left out."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    for tool in {"kubectl", "docker", "k3s", "kind", "minikube"} - set(tools):
        (bin_dir / tool).symlink_to(DOUBLES / tool)
    return f"{bin_dir}:{cluster.env()['PATH'].split(':', 1)[1]}"


@pytest.fixture
def cluster(tmp_path) -> DoubledCluster:
    """The kind cluster, with kubectl printing a klog warning on every call (deploy.sh must cope)."""
    return kind_cluster(tmp_path, klog_warning=True)


@dataclass
class Run:
    cluster: DoubledCluster
    result: subprocess.CompletedProcess
    checkout: Path


@pytest.fixture(scope="module")
def default_deploy(tmp_path_factory, api) -> Run:
    """One deploy with no settings on the kind cluster, for the tests that only read what it did (this module
    is one lane of the scheduler, so it runs once per run)."""
    cluster = kind_cluster(tmp_path_factory.mktemp("default-deploy"), klog_warning=True)
    return Run(cluster, deployed(cluster, api), ROOT)


@pytest.fixture
def deployed_cluster(tmp_path, default_deploy) -> DoubledCluster:
    """A cluster of the test's own, in the state the default deploy left (its call log starts empty)."""
    return DoubledCluster(tmp_path, **default_deploy.cluster.state)


@pytest.fixture(scope="module")
def exam_run(tmp_path_factory, api) -> Run:
    """One `deploy.sh exam` in a copy of the checkout, for the tests that only read what it did."""
    folder = tmp_path_factory.mktemp("exam")
    checkout = checkout_copy(folder / "checkout")
    committed = {name: (checkout / name).read_bytes() for name in FILES.values()}
    cluster = kind_cluster(folder)
    result = run_deploy(cluster, "exam", checkout=checkout, REGISTRY=REGISTRY, BASE_URL=api.base_url)
    assert result.returncode == 0, result.stderr
    assert {name: (checkout / name).read_bytes() for name in FILES.values()} == committed
    return Run(cluster, result, checkout)


def test_help_lists_every_setting():
    result = subprocess.run([str(ROOT / SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert [setting for setting in DEPLOY_SETTINGS if f"{setting}=" not in result.stdout] == []


def test_the_make_targets_run_the_script():
    for target in ("deploy", "exam", "undeploy"):
        # --no-print-directory: under `make test` this make is a sub-make, which would announce its folder.
        result = subprocess.run(
            ["make", "--no-print-directory", "-n", target],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        # The script is the last command (make exam installs check-exam's packages first).
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1].split() == [str(SCRIPT), target], result.stdout


@pytest.mark.parametrize(("major", "minor", "status"), [(3, 2, 2), (4, 3, 2), (4, 4, 0), (5, 2, 0)])
def test_the_scripts_stop_on_a_bash_older_than_4_4_and_say_how_to_get_one(major, minor, status):
    # BASH_VERSINFO is read-only: the check runs on a version given to it, as common.sh runs it on bash's own.
    check = f"source scripts/lib/common.sh && require_bash_4_4 {major} {minor}"
    result = subprocess.run(["bash", "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == status
    assert ("brew install bash" in result.stderr and f"bash {major}.{minor}" in result.stderr) == bool(status)


def test_deploy_applies_in_dependency_order_after_loading_the_image_then_records_evidence(default_deploy):
    cluster, result = default_deploy.cluster, default_deploy.result
    assert [key for _, key in cluster.events("create", "apply")] == ORDER
    calls = cluster.calls()
    loaded_at = next(i for i, call in enumerate(calls) if call["tool"] == "kind")
    applied_at = next(i for i, call in enumerate(calls) if "apply" in call["args"])
    assert loaded_at < applied_at  # the image is in the cluster before the Deployment asks for it
    rollout = next(call["args"] for call in calls if "rollout" in call["args"])
    assert "--timeout=300s" in rollout and not any(arg.startswith("--request-timeout") for arg in rollout)
    (evidence,) = result.stdout.splitlines()  # capture-proof.sh's folder
    assert "ALL 6 CHECKS PASSED" in (Path(evidence) / "SUMMARY.md").read_text()


def test_the_applied_objects_are_the_committed_ones_with_only_the_api_image_set(default_deploy):
    expected = copy.deepcopy(load())
    container(expected, "api")["image"] = LOCAL_IMAGE
    for key in ORDER[1:]:
        assert stored(default_deploy.cluster, key) == expected[key.split("/")[0]]


def test_the_api_image_is_set_whatever_its_registry_prefix(tmp_path, api):
    checkout = checkout_copy(tmp_path / "checkout")
    deployment = checkout / FILES["Deployment"]
    deployment.write_text(deployment.read_text().replace("image: user-api:", f"image: {REGISTRY}/user-api:"))
    cluster = kind_cluster(tmp_path)
    assert run_deploy(cluster, checkout=checkout, BASE_URL=api.base_url).returncode == 0
    assert api_image(cluster) == LOCAL_IMAGE


@pytest.mark.parametrize("action", ["deploy", "exam"])
def test_a_deployment_without_an_api_container_is_refused_before_building(tmp_path, action):
    checkout = checkout_copy(tmp_path / "checkout")
    deployment = checkout / FILES["Deployment"]
    deployment.write_text(deployment.read_text().replace("- name: api", "- name: web"))
    cluster = kind_cluster(tmp_path)
    result = run_deploy(cluster, action, checkout=checkout, REGISTRY=REGISTRY)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "my-deployment-eval.yml has no container named api" in line
    assert cluster.calls("docker") == [] and cluster.events() == []


def test_deploy_waits_for_the_default_ingress_class_k3s_makes_after_it_starts(cluster, api):
    cluster.update(ingress_classes_after=3)
    deployed(cluster, api)
    assert len([call for call in cluster.calls("kubectl") if "ingressclass" in call["args"]]) == 4


@pytest.mark.parametrize(
    ("nodes", "settings", "advice"),
    [
        ("k3s", {}, "kubectl wait --for=create ingressclass/traefik"),
        ("kind", {}, "traefik-values.yaml"),
        ("minikube", {}, "minikube addons enable ingress"),
        ("other", {"REGISTRY": REGISTRY}, "install an ingress controller"),
    ],
)
def test_no_ingress_class_stops_before_building_with_how_to_get_one(cluster, nodes, settings, advice):
    cluster.update(ingress_classes=[], nodes=NODES[nodes])
    result = run_deploy(cluster, INGRESS_CLASS_WAIT="0", **settings)
    assert result.returncode == 1
    (line,) = error_lines(result)
    assert "no IngressClass" in line and advice in line
    assert cluster.calls("docker") == [] and cluster.events() == []


@pytest.mark.parametrize(
    "classes",
    [
        [{"name": "nginx"}, {"name": "traefik"}],
        [{"name": "nginx", "default": True}, {"name": "traefik", "default": True}],
    ],
    ids=["none the default", "two defaults"],
)
def test_classes_without_one_default_stop_at_once_with_how_to_mark_one(cluster, classes):
    cluster.update(ingress_classes=classes)
    result = run_deploy(cluster, INGRESS_CLASS_WAIT="600")
    assert result.returncode == 1
    (line,) = error_lines(result)
    assert "nginx traefik" in line and "kubectl annotate ingressclass NAME" in line
    assert len([call for call in cluster.calls("kubectl") if "ingressclass" in call["args"]]) == 1


def files_containing(directory: Path, needle: bytes) -> list[str]:
    return [str(path) for path in directory.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_a_given_password_reaches_the_secret_and_nowhere_else(cluster, api, tmp_path):
    password = "pw-" + secrets.token_hex(12)
    result = deployed(cluster, api, MYSQL_PASSWORD=password)
    assert secret_sha256(cluster) == sha256(password)
    assert stored(cluster, "Secret/mysql-secret")["metadata"]["labels"][OWNER_LABEL[0]] == OWNER_LABEL[1]
    assert password not in result.stdout + result.stderr
    assert not any(password in " ".join(call["args"]) for call in cluster.calls())  # what ps would show
    assert cluster.state["secret_value_in_process_list"] is False
    assert files_containing(tmp_path, password.encode()) == []  # evidence, temporary files, logs


def test_without_a_password_one_is_generated_safe_for_the_mysql_entrypoint(default_deploy):
    digest = stored(default_deploy.cluster, "Secret/mysql-secret")["data"]["MYSQL_PASSWORD"]
    assert (digest["length"], digest["hex"]) == (48, True)


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


def test_an_existing_secret_is_never_overwritten_and_a_password_given_is_said_unused(cluster, api):
    existing = {"metadata": {"name": "mysql-secret", "labels": {"team": "ours"}}}
    cluster.update(objects={"default/Secret/mysql-secret": existing})
    result = deployed(cluster, api, MYSQL_PASSWORD="another-" + secrets.token_hex(8))
    assert stored(cluster, "Secret/mysql-secret") == existing
    (line,) = error_lines(result)
    assert "MYSQL_PASSWORD was not used: secret/mysql-secret already exists" in line
    assert "kubectl delete secret mysql-secret" in line


@pytest.mark.parametrize("character", ["'", '"', "\\", "\n"])
def test_a_password_the_mysql_entrypoint_cannot_take_is_refused(cluster, character):
    password = f"pw{character}" + secrets.token_hex(8)
    result = run_deploy(cluster, MYSQL_PASSWORD=password)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "MYSQL_PASSWORD contains ' \" \\ or a newline" in line and password not in result.stderr
    assert cluster.calls() == []


def test_on_kind_the_image_is_loaded_into_the_cluster_the_nodes_name(default_deploy):
    (load_call,) = loads(default_deploy.cluster)
    assert load_call["tool"] == "kind" and {"image-archive", "--name", "demo"} <= set(load_call["args"])
    assert load_call["images"] == [api_image(default_deploy.cluster)] == [LOCAL_IMAGE]


@pytest.mark.parametrize(
    ("nodes", "settings", "tool", "words"),
    [
        ("k3s", {}, "k3s", ["ctr", "images", "import"]),
        ("minikube", {}, "minikube", ["-p", "dev", "image", "load"]),
        ("kind", {"CLUSTER": "minikube"}, "minikube", ["image", "load"]),
        ("other", {"CLUSTER": "kind"}, "kind", ["load", "image-archive"]),
    ],
    ids=["k3s", "minikube", "CLUSTER overrides the nodes", "CLUSTER where the nodes say nothing"],
)
def test_the_image_is_loaded_the_way_the_cluster_needs(cluster, api, nodes, settings, tool, words):
    cluster.update(nodes=NODES[nodes])
    deployed(cluster, api, **settings)
    (load_call,) = loads(cluster)
    assert load_call["tool"] == tool and set(words) <= set(load_call["args"])
    assert load_call["images"] == [api_image(cluster)] == [LOCAL_IMAGE]


def test_with_a_registry_the_image_is_built_for_amd64_pushed_and_pulled_from_there(cluster, api):
    cluster.update(nodes=NODES["other"])
    deployed(cluster, api, REGISTRY=REGISTRY)
    docker = [call["args"] for call in cluster.calls("docker")]
    (build,) = [args for args in docker if args[0] == "build"]
    assert build[build.index("--platform") + 1] == "linux/amd64"
    assert ["push", PUSHED_IMAGE] in docker
    assert api_image(cluster) == PUSHED_IMAGE and loads(cluster) == []


def test_a_refused_push_says_to_log_in(cluster):
    result = run_deploy(cluster, REGISTRY=REGISTRY, DOCKER_DOUBLE_PUSH="denied")
    assert result.returncode == 1
    (line,) = error_lines(result)
    assert "docker push failed" in line and "docker login" in line
    assert cluster.events() == []


def test_k3d_or_a_k3s_elsewhere_without_a_k3s_here_is_told_to_use_a_registry(cluster, tmp_path):
    cluster.update(nodes=NODES["k3d"])  # k3d's kubelets are k3s ones
    result = run_deploy(cluster, path=path_without(cluster, tmp_path, "k3s"))
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "missing required tool: k3s" in line and "set REGISTRY" in line
    assert cluster.calls("docker") == []


def test_a_code_change_rolls_out_again_and_an_unchanged_image_does_not(deployed_cluster, api):
    cluster = deployed_cluster
    deployed(cluster, api)  # the same image again: nothing to roll out
    assert cluster.events("rollout") == [("rollout", "Deployment/api-mysql")]
    changed = "sha256:" + "9a8b7c6d5e4f" + "1" * 52
    deployed(cluster, api, DOCKER_DOUBLE_IMAGE_ID=changed)
    assert len(cluster.events("rollout")) == 2
    assert loads(cluster)[-1]["images"] == [api_image(cluster)] == ["localhost/user-api:9a8b7c6d5e4f"]


def test_a_failed_rollout_exits_non_zero_with_the_pods_descriptions_and_the_events(cluster):
    cluster.update(pods=[*PODS[:2], {**PODS[2], "ready": False}], rollout_ok=False)
    result = run_deploy(cluster)
    assert result.returncode == 1
    (line,) = error_lines(result)
    assert "did not roll out within 300s" in line
    assert "describe pods -l app=api-mysql" in result.stderr
    assert f"pod/{PODS[2]['name']}   Readiness probe failed" in result.stderr
    assert result.stdout == ""  # no evidence run


def test_undeploy_deletes_in_reverse_order_and_the_secret_it_created(deployed_cluster):
    result = run_deploy(deployed_cluster, "undeploy")
    assert result.returncode == 0, result.stderr
    assert [key for _, key in deployed_cluster.events("delete")] == ORDER[::-1]
    assert deployed_cluster.state["objects"] == {}


def test_undeploy_leaves_a_secret_it_did_not_create(cluster):
    cluster.update(objects={f"default/{key}": {"metadata": {"name": key.split("/")[1]}} for key in ORDER})
    result = run_deploy(cluster, "undeploy")
    assert result.returncode == 0, result.stderr
    assert list(cluster.state["objects"]) == ["default/Secret/mysql-secret"]
    assert run_deploy(cluster, "undeploy").returncode == 0  # nothing left to delete: still fine


@pytest.mark.parametrize(
    ("state", "settings", "status", "message"),
    [
        (
            {},
            {"CLUSTER": "k3d"},
            2,
            "CLUSTER=k3d is not k3s, kind or minikube (for k3d or any other cluster, set REGISTRY",
        ),
        ({}, {"REGISTRY": "not a registry"}, 2, "REGISTRY=not a registry is not host[:port][/path]"),
        ({}, {"ROLLOUT_TIMEOUT": "soon"}, 2, "ROLLOUT_TIMEOUT=soon is not like 300s"),
        ({}, {"INGRESS_CLASS_WAIT": "1m"}, 2, "INGRESS_CLASS_WAIT=1m is not a number of seconds"),
        ({"context": ""}, {}, 1, "kubectl has no current context"),
        (
            {"api_server_down": True},
            {},
            1,
            "cannot reach context kind-user-api's cluster: The connection",
        ),
        (
            {"nodes": NODES["other"]},
            {},
            2,
            "are not k3s, kind or minikube ones: set CLUSTER=k3s|kind|minikube",
        ),
        ({}, {"CONTAINER_ENGINE": "nerdctl"}, 2, "no container engine nerdctl: install docker or podman"),
    ],
    ids=[
        "k3d",
        "bad REGISTRY",
        "bad ROLLOUT_TIMEOUT",
        "bad INGRESS_CLASS_WAIT",
        "no context",
        "API server down",
        "unknown cluster",
        "no such engine",
    ],
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
    result = subprocess.run([str(ROOT / SCRIPT), *argument], capture_output=True, text=True, timeout=30)
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


def test_kubectl_kustomize_renders_exactly_the_four_committed_objects():
    # `kubectl apply -k .`, which the docs show, starts from kustomization.yaml: it must add nothing.
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(ROOT)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert list(yaml.safe_load_all(rendered)) == list(load().values())  # also in dependency order


# make exam


def test_exam_needs_a_registry_and_says_how_to_set_one(cluster, tmp_path):
    checkout = checkout_copy(tmp_path / "checkout")
    result = run_deploy(cluster, "exam", checkout=checkout)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert "docker login" in line and "REGISTRY=docker.io/<your Docker Hub user> make exam" in line
    assert cluster.calls() == [] and not (checkout / "exam").exists()


def test_exam_builds_for_amd64_and_pushes_the_image_the_files_name(exam_run):
    docker = [call["args"] for call in exam_run.cluster.calls("docker")]
    (build,) = [args for args in docker if args[0] == "build"]
    assert build[build.index("--platform") + 1] == "linux/amd64"
    assert ["push", PUSHED_IMAGE] in docker
    rendered = yaml.safe_load((exam_run.checkout / "exam" / FILES["Deployment"]).read_text())
    assert container({"Deployment": rendered}, "api")["image"] == PUSHED_IMAGE


def test_exam_writes_the_committed_files_with_only_the_image_and_password_lines_changed(exam_run):
    exam = exam_run.checkout / "exam"
    assert sorted(path.name for path in exam.iterdir() if path.is_file()) == sorted(RENDERINGS)
    for module in ("main.py", "database.py"):
        assert (exam / module).read_bytes() == (ROOT / "api" / module).read_bytes()
    changed = {}
    for kind, name in FILES.items():
        committed, written = (ROOT / name).read_text().splitlines(), (exam / name).read_text().splitlines()
        assert len(committed) == len(written)
        changed[kind] = [(old, new) for old, new in zip(committed, written, strict=True) if old != new]
    image = container(load(), "api")["image"]
    demo = load()["Secret"]["stringData"]["MYSQL_PASSWORD"]
    (deployment_line,) = changed.pop("Deployment")
    (secret_line,) = changed.pop("Secret")
    assert deployment_line[1] == deployment_line[0].replace(image, PUSHED_IMAGE)
    assert secret_line[1] == secret_line[0].replace(demo, EXAM_PASSWORD)
    assert changed == {"Service": [], "Ingress": []}


def test_exam_applies_exactly_its_files_in_dependency_order(exam_run):
    cluster, exam = exam_run.cluster, exam_run.checkout / "exam"
    assert [key for _, key in cluster.events("create", "apply")] == ORDER
    assert secret_sha256(cluster) == sha256(EXAM_PASSWORD)
    for key in ORDER[1:]:
        rendered = yaml.safe_load((exam / FILES[key.split("/")[0]]).read_text())
        assert stored(cluster, key) == rendered


def test_exam_keeps_its_evidence_and_ends_with_what_to_hand_in(exam_run):
    assert warning_lines(exam_run.result) == []
    (summary,) = (exam_run.checkout / "exam" / "evidence").glob("*/SUMMARY.md")
    assert "ALL 6 CHECKS PASSED" in summary.read_text()
    hand_in = exam_run.result.stdout.split("Hand in", 1)[1].splitlines()[1:]
    assert [line.strip() for line in hand_in] == [f"exam/{name}" for name in RENDERINGS] + [
        f"image: {PUSHED_IMAGE}"
    ]


def test_exam_takes_MYSQL_PASSWORD_instead_of_the_briefs(tmp_path, api):
    checkout, cluster = checkout_copy(tmp_path / "checkout"), kind_cluster(tmp_path)
    password = "pw" + secrets.token_hex(12)
    result = deployed(cluster, api, "exam", checkout=checkout, REGISTRY=REGISTRY, MYSQL_PASSWORD=password)
    (warning,) = warning_lines(result)  # the hand-in does not hold the brief's password
    assert "MYSQL_PASSWORD" in warning
    assert secret_sha256(cluster) == sha256(password)
    assert (
        yaml.safe_load((checkout / "exam" / FILES["Secret"]).read_text())["stringData"]["MYSQL_PASSWORD"]
        == password
    )
    assert not any(password in " ".join(call["args"]) for call in cluster.calls())


@pytest.mark.parametrize(
    "state", [{"context": ""}, {"api_server_down": True}], ids=["no context", "unreachable"]
)
def test_exam_without_a_cluster_writes_and_checks_the_files_then_says_what_is_missing(tmp_path, state):
    checkout, cluster = checkout_copy(tmp_path / "checkout"), kind_cluster(tmp_path, **state)
    result = run_deploy(cluster, "exam", checkout=checkout, REGISTRY=REGISTRY)
    assert result.returncode == 1
    assert (
        "exam/ is written and checked, but not deployed: point kubectl at a cluster"
        in error_lines(result)[-1]
    )
    assert sorted(path.name for path in (checkout / "exam").iterdir()) == sorted(RENDERINGS)
    assert cluster.events() == []


def test_exam_applies_nothing_when_check_exam_finds_a_problem(tmp_path):
    checkout, cluster = checkout_copy(tmp_path / "checkout"), kind_cluster(tmp_path)
    deployment = checkout / FILES["Deployment"]
    deployment.write_text(deployment.read_text().replace("replicas: 3", "replicas: 2"))
    result = run_deploy(cluster, "exam", checkout=checkout, REGISTRY=REGISTRY)
    assert result.returncode == 1
    (line,) = error_lines(result)
    assert "scripts/check-exam found problems in exam/" in line
    assert cluster.events() == []


def test_exam_run_again_replaces_its_folder_but_never_a_file_it_did_not_write(tmp_path, api):
    checkout, cluster = checkout_copy(tmp_path / "checkout"), kind_cluster(tmp_path)
    deployed(cluster, api, "exam", checkout=checkout, REGISTRY=REGISTRY)
    (checkout / "exam" / "evidence" / "from-before").write_text("")
    deployed(cluster, api, "exam", checkout=checkout, REGISTRY=REGISTRY)
    assert not (checkout / "exam" / "evidence" / "from-before").exists()
    (checkout / "exam" / "notes.txt").write_text("mine")
    result = run_deploy(cluster, "exam", checkout=checkout, REGISTRY=REGISTRY)
    assert result.returncode == 2
    assert "exam/ holds files make exam did not write" in error_lines(result)[0]
    assert (checkout / "exam" / "notes.txt").read_text() == "mine"


def test_exam_restarts_the_pods_when_the_password_changed_and_only_then(tmp_path, api):
    # MySQL reads the password only when it initialises: Pods from before must start again.
    checkout, cluster = checkout_copy(tmp_path / "checkout"), kind_cluster(tmp_path)
    deployed(cluster, api, "exam", checkout=checkout, REGISTRY=REGISTRY)
    deployed(cluster, api, "exam", checkout=checkout, REGISTRY=REGISTRY)
    assert len(cluster.events("rollout")) == 1  # the first apply's
    deployed(cluster, api, "exam", checkout=checkout, REGISTRY=REGISTRY, MYSQL_PASSWORD="another1234")
    assert len(cluster.events("rollout")) == 2
    assert [verb for verb, key in cluster.events()[-5:]] == ["apply"] * 4 + ["rollout"]


def test_checks_that_went_through_a_port_forward_end_with_a_warning_that_the_ingress_was_not_checked(
    cluster, api
):
    cluster.update(port_forward_to=api.base_url.removeprefix("http://"))  # and no Ingress address
    result = run_deploy(cluster)
    assert result.returncode == 0, result.stderr
    (warning,) = warning_lines(result)
    assert "port-forward" in warning
