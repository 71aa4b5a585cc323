"""The four committed manifests, loaded as data, and lookups into them for the tests that run them.

Whether their fields agree with each other (selectors, ports, Secret references, the Ingress backend) is
scripts/check-exam's to say; these helpers follow those references and assume they hold.
"""

import yaml

from devstack import ROOT

FILES = {
    "Secret": "my-secret-eval.yml",
    "Deployment": "my-deployment-eval.yml",
    "Service": "my-service-eval.yml",
    "Ingress": "my-ingress-eval.yml",
}

Manifests = dict[str, dict]
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def load() -> Manifests:
    loaded = {}
    for kind, name in FILES.items():
        document = yaml.safe_load((ROOT / name).read_text())
        assert document["kind"] == kind, f"{name} holds a {document['kind']}, expected a {kind}"
        loaded[kind] = document
    return loaded


def container(manifests: Manifests, name: str) -> dict:
    containers = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


def named_ports(spec: dict) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in spec.get("ports", []) if "name" in port}


def resolve_port(spec: dict, port: int | str) -> int | None:
    """A probe or targetPort value (number or port name) as a number of this container, or None."""
    if isinstance(port, int):
        return port if port in {p["containerPort"] for p in spec.get("ports", [])} else None
    return named_ports(spec).get(port)


def env_value(spec: dict, name: str) -> dict | None:
    return next((entry for entry in spec.get("env", []) if entry["name"] == name), None)


def backend_pod_port(m: Manifests, path: dict) -> int:
    """The port of the api container that an Ingress path reaches: its backend's Service port, then that
    port's targetPort."""
    wanted = path["backend"]["service"]["port"]
    wanted = wanted.get("number", wanted.get("name"))
    port = next(p for p in m["Service"]["spec"]["ports"] if wanted in (p["port"], p.get("name")))
    return resolve_port(container(m, "api"), port.get("targetPort", port["port"]))
