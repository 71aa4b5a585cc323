"""The README's cluster steps, read against the manifests: every name, label, file and port must agree."""

import re
from pathlib import Path

from k8s.manifests import FILES, container, load

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MANIFESTS = load()


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
    assert f"kind load docker-image {api_image}" in README
    assert container(MANIFESTS, "db")["image"] in README
    assert f"class `{MANIFESTS['Ingress']['spec']['ingressClassName']}`" in README
    port = MANIFESTS["Service"]["spec"]["ports"][0]["port"]
    assert f"api-svc:{port}" in README and f"port {port}" in README
    assert f"key `{next(iter(MANIFESTS['Secret']['stringData']))}`" in README


def test_linked_files_exist():
    for link in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (ROOT / link).exists(), link
