"""Every field of one manifest that must match a field of another, checked by reading the YAML."""

import copy

import pytest
import yaml
from fastapi.routing import APIRoute

from k8s import manifests
from k8s.manifests import CHECKS, ROOT, container
from userapi.config import Settings, env_name
from userapi.routes import READINESS_DEADLINE_SECONDS, router

SETTING_NAMES = {env_name(field) for field in Settings.model_fields}
ROUTES = {route.path for route in router.routes if isinstance(route, APIRoute)}


@pytest.fixture
def committed() -> manifests.Manifests:
    return manifests.load()


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_committed_manifests_agree(committed, check):
    assert check(committed) == []


def test_the_api_env_matches_the_settings_it_feeds(committed):
    assert manifests.api_env_matches_settings(committed, SETTING_NAMES) == []


# Each wrong edit below must be caught by a check, with a message naming both sides.
WRONG_EDITS = [
    (
        "selector_matches_template",
        ["Deployment", "spec", "selector", "matchLabels", "app"],
        "api",
        ["spec.selector.matchLabels", "spec.template.metadata.labels"],
    ),
    (
        "service_selects_the_pods",
        ["Service", "spec", "selector", "app"],
        "api-mysq1",
        ["Service spec.selector", "Deployment spec.template.metadata.labels"],
    ),
    (
        "service_target_port_is_the_api_port",
        ["Service", "spec", "ports", 0, "targetPort"],
        "mysql",
        ["targetPort", "api containerPort 'http'"],
    ),
    (
        "service_target_port_is_the_api_port",
        ["Service", "spec", "ports", 0, "targetPort"],
        8080,
        ["targetPort", "api containerPort 'http'"],
    ),
    (
        "secret_refs_exist",
        ["Secret", "metadata", "name"],
        "mysql-secrets",
        ["secretKeyRef.name", "Secret metadata.name"],
    ),
    (
        "ingress_routes_to_the_service",
        ["Ingress", "spec", "rules", 0, "http", "paths", 0, "backend", "service", "name"],
        "api-service",
        ["backend.service.name", "Service metadata.name"],
    ),
    (
        "ingress_routes_to_the_service",
        ["Ingress", "spec", "rules", 0, "http", "paths", 0, "backend", "service", "port", "number"],
        80,
        ["backend.service.port", "Service spec.ports"],
    ),
]


def edit(document: manifests.Manifests, path: list, value) -> manifests.Manifests:
    edited = copy.deepcopy(document)
    target = edited
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return edited


@pytest.mark.parametrize(
    ("check_name", "path", "value", "names"),
    WRONG_EDITS,
    ids=[f"{c}:{'.'.join(map(str, p[1:]))}={v}" for c, p, v, _ in WRONG_EDITS],
)
def test_a_wrong_edit_is_reported_naming_both_fields(committed, check_name, path, value, names):
    problems = getattr(manifests, check_name)(edit(committed, path, value))
    assert problems, f"{check_name} missed a wrong edit of {path}"
    assert all(name in problems[0] for name in names), problems[0]


def test_a_probe_on_an_undeclared_port_is_reported(committed):
    api = container(committed, "api")
    api["readinessProbe"]["httpGet"]["port"] = "web"
    problems = manifests.probes_use_declared_ports(committed)
    assert problems == ["api readinessProbe port 'web' must match one of api's containerPorts [8000]"]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("MYSQL_HOST", "localhost", "api env MYSQL_HOST"),
        ("MYSQL_PORT", "3307", "db containerPort 'mysql'"),
        ("MYSQL_PASWORD", "typo", "userapi.config.Settings"),
    ],
)
def test_a_wrong_api_setting_is_reported(committed, variable, value, named):
    env = container(committed, "api")["env"]
    existing = next((entry for entry in env if entry["name"] == variable), None)
    if existing:
        existing["value"] = value
    else:
        env.append({"name": variable, "value": value})
    problems = manifests.api_env_matches_settings(committed, SETTING_NAMES)
    assert any(named in problem for problem in problems), problems


def test_a_password_from_two_different_secrets_is_reported(committed):
    db_password = container(committed, "db")["env"][0]
    db_password["valueFrom"]["secretKeyRef"]["key"] = "ROOT_PASSWORD"
    problems = manifests.api_env_matches_settings(committed, SETTING_NAMES)
    assert any("db env MYSQL_ROOT_PASSWORD" in p and "api env MYSQL_PASSWORD" in p for p in problems)


def test_three_replicas_of_db_and_api_side_by_side(committed):
    pod = committed["Deployment"]["spec"]["template"]["spec"]
    assert committed["Deployment"]["spec"]["replicas"] == 3
    assert [c["name"] for c in pod["containers"]] == ["db", "api"]
    assert "initContainers" not in pod  # READY 2/2 on every version: no native sidecar
    assert container(committed, "db")["image"] == "datascientest/mysql-k8s:1.0.0"


def test_readiness_checks_the_database_and_liveness_only_the_process(committed):
    api = container(committed, "api")
    readiness, liveness = api["readinessProbe"]["httpGet"]["path"], api["livenessProbe"]["httpGet"]["path"]
    assert {readiness, liveness} <= ROUTES
    assert (readiness, liveness) == ("/ready", "/status")
    # The endpoint gives up before the kubelet does, so a slow database reads as 503, not a timeout.
    assert api["readinessProbe"]["timeoutSeconds"] > READINESS_DEADLINE_SECONDS
    db = container(committed, "db")
    assert all("tcpSocket" in db[probe] for probe in ("startupProbe", "readinessProbe", "livenessProbe"))


def test_the_grace_period_covers_the_pre_stop_pause(committed):
    pod = committed["Deployment"]["spec"]["template"]["spec"]
    pause = int(container(committed, "api")["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] >= pause + 10


def test_hardening_as_strict_as_each_image_allows(committed):
    pod = committed["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    api = container(committed, "api")["securityContext"]
    assert api == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    db = container(committed, "db")["securityContext"]
    assert db["allowPrivilegeEscalation"] is False and db["capabilities"]["drop"] == ["ALL"]
    for name in ("db", "api"):
        resources = container(committed, name)["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}, name


def test_the_ingress_uses_traefik_on_slash_prefix(committed):
    assert committed["Ingress"]["spec"]["ingressClassName"] == "traefik"
    path = committed["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert committed["Service"]["spec"]["type"] == "ClusterIP"
    assert committed["Service"]["spec"]["ports"][0]["port"] == 8000


def test_compose_runs_the_same_images_as_the_deployment(committed):
    services = yaml.safe_load((ROOT / "compose.yml").read_text())["services"]
    assert services["db"]["image"] == "${DB_IMAGE:-" + container(committed, "db")["image"] + "}"
    assert services["api"]["image"] == "${API_IMAGE:-" + container(committed, "api")["image"] + "}"
