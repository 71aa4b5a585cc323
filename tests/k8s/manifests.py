"""The four committed manifests, loaded as data, and the cross-references between them.

Each check returns the problems it finds as sentences that name both fields, so a wrong edit says what
no longer matches what.
"""

import re
from collections.abc import Callable

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


class Mismatch(ValueError):
    """A field that does not match the field it refers to; the message names both."""


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


def probes_use_declared_ports(m: Manifests) -> list[str]:
    problems = []
    for spec in m["Deployment"]["spec"]["template"]["spec"]["containers"]:
        for kind in PROBES:
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


def backend_pod_port(m: Manifests, path: dict) -> int:
    """Follow an Ingress path to the port the Pods listen on: backend Service name and port, then that
    Service port's targetPort, resolved on the api container. Raises Mismatch where a link breaks."""
    backend, service = path["backend"]["service"], m["Service"]
    where = f"Ingress path {path['path']} backend.service"
    wrong_name = mismatch(
        f"{where}.name", backend["name"], "Service metadata.name", service["metadata"]["name"]
    )
    if wrong_name:
        raise Mismatch(wrong_name[0])
    wanted = backend["port"].get("number", backend["port"].get("name"))
    port = next((p for p in service["spec"]["ports"] if wanted in (p["port"], p.get("name"))), None)
    if port is None:
        ports = [p.get("name", p["port"]) for p in service["spec"]["ports"]]
        raise Mismatch(f"{where}.port ({wanted!r}) must match Service spec.ports {ports}")
    api = container(m, "api")
    target = port.get("targetPort", port["port"])
    number = resolve_port(api, target)
    if number is None:
        raise Mismatch(
            f"Service spec.ports[{port.get('name', port['port'])}].targetPort ({target!r}) must match "
            f"an api containerPort {named_ports(api)}"
        )
    return number


def ingress_reaches_the_api(m: Manifests) -> list[str]:
    problems = []
    for rule in m["Ingress"]["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            try:
                backend_pod_port(m, path)
            except Mismatch as broken:
                problems.append(str(broken))
    return problems


def mysqld_options(spec: dict) -> dict[str, str]:
    """The db container's args as mysqld reads them: --name=value, the last one winning."""
    return dict(arg[2:].split("=", 1) for arg in spec.get("args", []) if arg.startswith("--") and "=" in arg)


def mysql_listens_only_where_its_clients_connect(m: Manifests) -> list[str]:
    db, api = container(m, "db"), container(m, "api")
    options = mysqld_options(db)
    bind = options.get("bind-address")
    host = (env_value(api, "MYSQL_HOST") or {}).get("value")
    problems = mismatch("db args --bind-address", bind, "api env MYSQL_HOST", host)
    if options.get("mysqlx", "ON").upper() not in ("OFF", "0"):
        problems.append(
            "db args --mysqlx must be OFF: the X Protocol listens on every interface (port 33060)"
        )
    for kind in PROBES:
        probe = db.get(kind, {})
        if "exec" not in probe:
            problems.append(
                f"db {kind} must be an exec probe: a tcpSocket or httpGet probe connects to the Pod IP, "
                f"where MySQL does not listen (db args --bind-address {bind!r})"
            )
            continue
        command = " ".join(probe["exec"]["command"])
        for option, right, value in (
            ("host", "db args --bind-address", bind),
            ("port", "db containerPort 'mysql'", str(named_ports(db).get("mysql"))),
        ):
            found = re.search(rf"--{option}=(\S+)", command)
            problems += mismatch(f"db {kind} exec --{option}", found and found[1], right, value)
    return problems


CHECKS: list[Callable[[Manifests], list[str]]] = [
    selector_matches_template,
    service_selects_the_pods,
    probes_use_declared_ports,
    secret_refs_exist,
    ingress_reaches_the_api,
    mysql_listens_only_where_its_clients_connect,
]
