"""Every field of one manifest that must match a field of another, checked by reading the YAML."""

import copy

import pytest
import yaml

from devstack import ROOT
from k8s import manifests
from k8s.manifests import CHECKS, container
from userapi.app import create_app
from userapi.config import Settings, env_name
from userapi.routes import READINESS_DEADLINE_SECONDS, RETRY_AFTER_SECONDS

COMPOSE_SERVICES = yaml.safe_load((ROOT / "compose.yml").read_text())["services"]

SETTING_NAMES = {env_name(field) for field in Settings.model_fields}
ROUTE_PATHS = set(create_app(Settings()).openapi()["paths"])


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
        "ingress_reaches_the_api",
        ["Service", "spec", "ports", 0, "targetPort"],
        "mysql",
        ["targetPort", "api containerPort"],
    ),
    (
        "ingress_reaches_the_api",
        ["Service", "spec", "ports", 0, "targetPort"],
        8080,
        ["targetPort", "api containerPort"],
    ),
    (
        "secret_refs_exist",
        ["Secret", "metadata", "name"],
        "mysql-secrets",
        ["secretKeyRef.name", "Secret metadata.name"],
    ),
    (
        "ingress_reaches_the_api",
        ["Ingress", "spec", "rules", 0, "http", "paths", 0, "backend", "service", "name"],
        "api-service",
        ["backend.service.name", "Service metadata.name"],
    ),
    (
        "ingress_reaches_the_api",
        ["Ingress", "spec", "rules", 0, "http", "paths", 0, "backend", "service", "port", "number"],
        80,
        ["backend.service.port", "Service spec.ports"],
    ),
    (
        "mysql_listens_only_where_its_clients_connect",
        ["Deployment", "spec", "template", "spec", "containers", 0, "args", 0],
        "--bind-address=0.0.0.0",
        ["db args --bind-address", "api env MYSQL_HOST"],
    ),
    (
        "mysql_listens_only_where_its_clients_connect",
        ["Deployment", "spec", "template", "spec", "containers", 0, "args", 1],
        "--mysqlx=ON",
        ["db args --mysqlx", "33060"],
    ),
    (
        "mysql_listens_only_where_its_clients_connect",
        ["Deployment", "spec", "template", "spec", "containers", 0, "livenessProbe"],
        {"tcpSocket": {"port": "mysql"}},
        ["db livenessProbe", "Pod IP", "--bind-address"],
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


def test_the_probes_call_routes_of_the_api_and_give_up_after_it(committed):
    api = container(committed, "api")
    assert {api[probe]["httpGet"]["path"] for probe in manifests.PROBES} <= ROUTE_PATHS
    # The endpoint gives up before the kubelet does, so a slow database reads as 503, not a timeout.
    assert api["readinessProbe"]["timeoutSeconds"] > READINESS_DEADLINE_SECONDS
    # A client told to retry after a 503 comes back once readiness has been asked again.
    assert api["readinessProbe"]["periodSeconds"] <= RETRY_AFTER_SECONDS


def test_compose_runs_the_same_images_as_the_deployment(committed):
    assert COMPOSE_SERVICES["db"]["image"] == "${DB_IMAGE:-" + container(committed, "db")["image"] + "}"
    assert COMPOSE_SERVICES["api"]["image"] == "${API_IMAGE:-" + container(committed, "api")["image"] + "}"


def test_the_db_container_names_its_database_in_the_deployment_and_in_compose(committed):
    # The real image's entrypoint creates MYSQL_DATABASE when it is missing; without it we would depend on
    # whatever the image was seeded with.
    db = container(committed, "db")
    assert manifests.env_value(db, "MYSQL_DATABASE") == {"name": "MYSQL_DATABASE", "value": "Main"}
    assert COMPOSE_SERVICES["db"]["environment"]["MYSQL_DATABASE"] == "Main"
