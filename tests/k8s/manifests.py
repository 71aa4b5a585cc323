"""The four committed manifests, loaded as data, and the cross-references between them.

Each check returns the problems it finds as sentences that name both fields, so a wrong edit says what
no longer matches what.
"""

from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "Secret": "my-secret-eval.yml",
    "Deployment": "my-deployment-eval.yml",
    "Service": "my-service-eval.yml",
    "Ingress": "my-ingress-eval.yml",
}

Manifests = dict[str, dict]


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


def mismatch(left: str, left_value, right: str, right_value) -> list[str]:
    if left_value == right_value:
        return []
    return [f"{left} ({left_value!r}) must match {right} ({right_value!r})"]


def selector_matches_template(m: Manifests) -> list[str]:
    spec = m["Deployment"]["spec"]
    return mismatch(
        "Deployment spec.selector.matchLabels",
        spec["selector"]["matchLabels"],
        "Deployment spec.template.metadata.labels (same keys)",
        {k: spec["template"]["metadata"]["labels"].get(k) for k in spec["selector"]["matchLabels"]},
    )


def service_selects_the_pods(m: Manifests) -> list[str]:
    selector = m["Service"]["spec"]["selector"]
    labels = m["Deployment"]["spec"]["template"]["metadata"]["labels"]
    return mismatch(
        "Service spec.selector",
        selector,
        "Deployment spec.template.metadata.labels (same keys)",
        {k: labels.get(k) for k in selector},
    )


def service_target_port_is_the_api_port(m: Manifests) -> list[str]:
    problems = []
    api = container(m, "api")
    for port in m["Service"]["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        problems += mismatch(
            f"Service spec.ports[{port['name']}].targetPort {target!r} resolved",
            resolve_port(api, target),
            "api containerPort 'http'",
            named_ports(api).get("http"),
        )
    return problems


def probes_use_declared_ports(m: Manifests) -> list[str]:
    problems = []
    for spec in m["Deployment"]["spec"]["template"]["spec"]["containers"]:
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = spec.get(kind)
            if probe is None:
                problems.append(f"container {spec['name']} has no {kind}")
                continue
            action = probe.get("httpGet") or probe.get("tcpSocket")
            if action and resolve_port(spec, action["port"]) is None:
                problems.append(
                    f"{spec['name']} {kind} port {action['port']!r} must match one of "
                    f"{spec['name']}'s containerPorts {[p['containerPort'] for p in spec['ports']]}"
                )
    return problems


def secret_refs_exist(m: Manifests) -> list[str]:
    problems = []
    secret = m["Secret"]
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    for spec in m["Deployment"]["spec"]["template"]["spec"]["containers"]:
        for entry in spec.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            field = f"{spec['name']} env {entry['name']} secretKeyRef"
            problems += mismatch(
                f"{field}.name", ref["name"], "Secret metadata.name", secret["metadata"]["name"]
            )
            if ref["key"] not in keys:
                problems.append(
                    f"{field}.key ({ref['key']!r}) must match a Secret stringData key {sorted(keys)}"
                )
    return problems


def api_env_matches_settings(m: Manifests, setting_names: set[str]) -> list[str]:
    api, db = container(m, "api"), container(m, "db")
    declared = {entry["name"] for entry in api.get("env", [])}
    problems = [
        f"api env {name} must match a setting of userapi.config.Settings {sorted(setting_names)}"
        for name in sorted(declared - setting_names)
    ]
    for required in ("MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE"):
        if required not in declared:
            problems.append(f"api env must set {required} (userapi.config.Settings reads it)")
    host, port = env_value(api, "MYSQL_HOST"), env_value(api, "MYSQL_PORT")
    problems += mismatch(
        "api env MYSQL_HOST", host and host.get("value"), "the Pod's shared loopback", "127.0.0.1"
    )
    problems += mismatch(
        "api env MYSQL_PORT",
        port and port.get("value"),
        "db containerPort 'mysql'",
        str(named_ports(db).get("mysql")),
    )
    db_password = env_value(db, "MYSQL_ROOT_PASSWORD") or {}
    api_password = env_value(api, "MYSQL_PASSWORD") or {}
    problems += mismatch(
        "db env MYSQL_ROOT_PASSWORD valueFrom",
        db_password.get("valueFrom"),
        "api env MYSQL_PASSWORD valueFrom",
        api_password.get("valueFrom"),
    )
    return problems


def ingress_routes_to_the_service(m: Manifests) -> list[str]:
    problems = []
    service = m["Service"]
    service_ports = {p["port"] for p in service["spec"]["ports"]} | {
        p["name"] for p in service["spec"]["ports"]
    }
    for rule in m["Ingress"]["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            problems += mismatch(
                f"Ingress path {path['path']} backend.service.name",
                backend["name"],
                "Service metadata.name",
                service["metadata"]["name"],
            )
            port = backend["port"].get("number", backend["port"].get("name"))
            if port not in service_ports:
                problems.append(
                    f"Ingress path {path['path']} backend.service.port ({port!r}) must match "
                    f"Service spec.ports ({sorted(map(str, service_ports))})"
                )
    return problems


CHECKS: list[Callable[[Manifests], list[str]]] = [
    selector_matches_template,
    service_selects_the_pods,
    service_target_port_is_the_api_port,
    probes_use_declared_ports,
    secret_refs_exist,
    ingress_routes_to_the_service,
]
