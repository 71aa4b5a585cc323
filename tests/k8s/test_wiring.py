"""The wiring that is this project's own design rather than the exam's: the API's env against its settings
model, mysqld on the Pod's loopback only, the probes against the API's routes and deadlines, compose
against the Deployment. The wiring every rendering needs (selectors, ports, Secret references, the Ingress
backend, 127.0.0.1) is scripts/check-exam's, tested in tests/scripts/test_check_exam.py."""

import re

import pytest
import yaml

from devstack import ROOT
from k8s.manifests import PROBES, Manifests, container, env_value, load, named_ports
from main import READINESS_DEADLINE_SECONDS, RETRY_AFTER_SECONDS, Settings, server

COMPOSE_SERVICES = yaml.safe_load((ROOT / "compose.yml").read_text())["services"]

SETTING_NAMES = set(Settings.model_fields)
ROUTE_PATHS = set(server.openapi()["paths"])
# What the API needs to connect; the other settings have defaults that suit the Pod.
CONNECTION = ("MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE")


@pytest.fixture
def committed() -> Manifests:
    return load()


def mismatch(left: str, left_value, right: str, right_value) -> list[str]:
    return (
        [] if left_value == right_value else [f"{left} ({left_value!r}) must match {right} ({right_value!r})"]
    )


def api_env_problems(m: Manifests) -> list[str]:
    """The api container's env against the settings the API reads: no unknown name, none missing."""
    declared = {entry["name"] for entry in container(m, "api").get("env", [])}
    unknown = [f"api env {name} is no setting of main.Settings" for name in sorted(declared - SETTING_NAMES)]
    return unknown + [f"api env must set {name}" for name in CONNECTION if name not in declared]


def loopback_problems(m: Manifests) -> list[str]:
    """mysqld listens where the API connects and nowhere else, and its probes ask it there."""
    db = container(m, "db")
    options = dict(arg[2:].split("=", 1) for arg in db.get("args", []) if arg.startswith("--") and "=" in arg)
    bind = options.get("bind-address")
    problems = mismatch(
        "db args --bind-address",
        bind,
        "api env MYSQL_HOST",
        env_value(container(m, "api"), "MYSQL_HOST")["value"],
    )
    if options.get("mysqlx", "ON").upper() not in ("OFF", "0"):
        problems.append(
            "db args --mysqlx must be OFF: the X Protocol listens on every interface (port 33060)"
        )
    for kind in PROBES:
        if "exec" not in db.get(kind, {}):
            problems.append(
                f"db {kind} must be an exec probe: any other connects to the Pod IP, where mysqld is not"
            )
            continue
        command = " ".join(db[kind]["exec"]["command"])
        for option, right, value in (
            ("host", "db args --bind-address", bind),
            ("port", "db containerPort 'mysql'", str(named_ports(db).get("mysql"))),
        ):
            found = re.search(rf"--{option}=(\S+)", command)
            problems += mismatch(f"db {kind} exec --{option}", found and found[1], right, value)
    return problems


@pytest.mark.parametrize("check", [api_env_problems, loopback_problems], ids=lambda check: check.__name__)
def test_the_committed_manifests_agree(committed, check):
    assert check(committed) == []


def set_env(m: Manifests, name: str, value: str | None) -> None:
    """Set one api env variable, or remove it (None)."""
    env = container(m, "api")["env"]
    env[:] = [entry for entry in env if entry["name"] != name]
    if value is not None:
        env.append({"name": name, "value": value})


def set_db(m: Manifests, field: str, index: int, value) -> None:
    container(m, "db")[field][index] = value


WRONG_EDITS = {
    "a typo in a setting name": (
        lambda m: set_env(m, "MYSQL_PASWORD", "x"),
        api_env_problems,
        "MYSQL_PASWORD",
    ),
    "a connection setting left out": (
        lambda m: set_env(m, "MYSQL_USER", None),
        api_env_problems,
        "MYSQL_USER",
    ),
    "mysqld on every interface": (
        lambda m: set_db(m, "args", 0, "--bind-address=0.0.0.0"),
        loopback_problems,
        "db args --bind-address",
    ),
    "the X Protocol on": (lambda m: set_db(m, "args", 1, "--mysqlx=ON"), loopback_problems, "--mysqlx"),
    "the API at another address": (
        lambda m: set_env(m, "MYSQL_HOST", "10.0.0.1"),
        loopback_problems,
        "MYSQL_HOST",
    ),
    "a tcpSocket probe": (
        lambda m: container(m, "db").update(livenessProbe={"tcpSocket": {"port": "mysql"}}),
        loopback_problems,
        "db livenessProbe",
    ),
}


@pytest.mark.parametrize(("edit", "check", "named"), WRONG_EDITS.values(), ids=WRONG_EDITS)
def test_a_wrong_edit_is_reported(committed, edit, check, named):
    edit(committed)
    problems = check(committed)
    assert problems and named in problems[0], problems


def test_both_containers_declare_every_probe(committed):
    for name in ("db", "api"):
        assert [kind for kind in PROBES if kind not in container(committed, name)] == [], name


def test_the_probes_call_routes_of_the_api_and_give_up_after_it(committed):
    api = container(committed, "api")
    assert {api[probe]["httpGet"]["path"] for probe in PROBES} <= ROUTE_PATHS
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
    assert env_value(db, "MYSQL_DATABASE") == {"name": "MYSQL_DATABASE", "value": "Main"}
    assert COMPOSE_SERVICES["db"]["environment"]["MYSQL_DATABASE"] == "Main"
