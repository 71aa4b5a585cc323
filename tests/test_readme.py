"""The README's cluster steps, read against the manifests: every name, label, file and port must agree."""

import re

from devstack import ROOT
from k8s.manifests import FILES, container, load

README = (ROOT / "README.md").read_text()
MANIFESTS = load()
DEPLOY = README[README.index("## Deploy to a cluster") : README.index("## Troubleshooting")]


def names_after(pattern: str) -> set[str]:
    return set(re.findall(pattern, README))


def test_the_two_commands_come_first():
    head = README[: README.index("## Architecture")]
    assert "make run" in head and "make test" in head


def test_every_applied_file_exists_in_dependency_order():
    applied = re.findall(r"kubectl apply -f (\S+\.yml)", README)
    assert applied == list(FILES.values())  # Secret, Deployment, Service, Ingress


def test_object_names_match_the_manifests():
    assert names_after(r"deployment/([\w-]+)") == {MANIFESTS["Deployment"]["metadata"]["name"]}
    assert names_after(r"svc/([\w-]+)") | names_after(r"service-name=([\w-]+)") == {
        MANIFESTS["Service"]["metadata"]["name"]
    }
    assert names_after(r"get ingress ([\w-]+)") == {MANIFESTS["Ingress"]["metadata"]["name"]}
    assert names_after(r"secret generic ([\w-]+)") == {MANIFESTS["Secret"]["metadata"]["name"]}
    assert names_after(r"-l app=([\w-]+)") == {
        MANIFESTS["Deployment"]["spec"]["selector"]["matchLabels"]["app"]
    }


def test_images_ports_and_class_match_the_manifests():
    api_image = container(MANIFESTS, "api")["image"]
    assert f"-t {api_image} ./api" in README
    assert (
        f"docker save -o user-api.tar {api_image}" in README
        and "kind load image-archive user-api.tar" in README
    )
    assert container(MANIFESTS, "db")["image"] in README
    assert f"class `{MANIFESTS['Ingress']['spec']['ingressClassName']}`" in README
    port = MANIFESTS["Service"]["spec"]["ports"][0]["port"]
    assert f"api-svc:{port}" in README and f"port {port}" in README
    assert f"key `{next(iter(MANIFESTS['Secret']['stringData']))}`" in README


def test_linked_files_exist():
    for link in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (ROOT / link).exists(), link


def test_every_make_target_named_exists():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    named = set(re.findall(r"`make ([\w-]+)", README)) | set(
        re.findall(r"^make ([\w-]+)", README, re.MULTILINE)
    )
    assert {"deploy", "undeploy"} <= named <= targets


def test_the_kustomization_is_shown_beside_the_four_steps():
    # What it renders is checked against the four files in tests/scripts/test_deploy.py.
    assert "kubectl apply -k ." in DEPLOY and (ROOT / "kustomization.yaml").exists()


def test_the_secret_recipe_is_safe_for_the_mysql_entrypoint_and_shows_nothing():
    (recipe,) = [line for line in DEPLOY.splitlines() if "secret generic" in line]
    assert recipe.startswith("openssl rand -hex 24 |") and "--from-file=MYSQL_PASSWORD=/dev/stdin" in recipe
    assert "--from-literal" not in README and "echo" not in recipe  # never in an argument list, never shown
    for character in ("`'`", '`"`', "`\\`"):
        assert character in DEPLOY  # the characters to avoid are named


def test_the_cluster_specific_pitfalls_are_covered():
    for fact in (
        "amd64 only",  # Apple-silicon kind/minikube and arm64 k3s cannot pull the MySQL image
        "arm64",
        "cloud-provider-kind",  # kind's ingress guide
        "kind load image-archive",  # kind load docker-image and the containerd image store
        "kind issue 3795",
        "multi-node k3s",  # k3s ctr images import loads one node
        "kubectl rollout restart deployment/api-mysql",  # same tag rebuilt
        "REGISTRY=",
    ):
        assert fact in DEPLOY, fact
