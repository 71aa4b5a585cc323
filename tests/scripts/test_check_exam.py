"""scripts/check-exam, run as a learner runs it (.venv/bin/python scripts/check-exam DIR): on the committed
files, on a learner's correct rendering, and on renderings that each make one typical mistake."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from devstack import ROOT
from k8s.manifests import FILES

CHECK_EXAM = ROOT / "scripts" / "check-exam"
LEARNER_MAIN = Path(__file__).with_name("learner_main.py")
STATUSES = ("PASS", "WARN", "FAIL", "SKIP")
SECRET, DEPLOYMENT, SERVICE, INGRESS = FILES.values()
MAIN = "main.py"


class Run(NamedTuple):
    code: int
    findings: list[tuple[str, str, str]]  # (status, rule, file[:line]), one per result line
    stderr: str

    def files(self, status: str) -> set[tuple[str, str]]:
        """(rule, file) of each finding of one status."""
        return {(rule, where.split(":")[0]) for found, rule, where in self.findings if found == status}


def check_exam(*args: str | Path, python: tuple[str, ...] = (sys.executable,), **popen) -> Run:
    done = subprocess.run(
        [*python, CHECK_EXAM, *args], capture_output=True, text=True, timeout=60, check=False, **popen
    )
    findings = [
        tuple(line.split(maxsplit=3)[:3]) for line in done.stdout.splitlines() if line[:4] in STATUSES
    ]
    return Run(done.returncode, findings, done.stderr)


def rendering(folder: Path, main: Path = LEARNER_MAIN) -> Path:
    """An exam folder: the four committed manifests, and a main.py."""
    folder.mkdir()
    for name in FILES.values():
        shutil.copy(ROOT / name, folder / name)
    shutil.copy(main, folder / MAIN)
    return folder


Change = Callable[[dict], object] | tuple[str, str]


def make_mistake(folder: Path, file: str, change: Change) -> None:
    """One edit of a file of the folder: a function that changes the parsed manifest in place, or a text
    replacement (old, new), where old must be in the file."""
    path = folder / file
    if callable(change):
        document = yaml.safe_load(path.read_text())
        change(document)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    else:
        old, new = change
        assert old in path.read_text(), f"{file} no longer holds {old!r}"
        path.write_text(path.read_text().replace(old, new))


def pod(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def named(items: list[dict], name: str) -> dict:
    return next(item for item in items if item["name"] == name)


def api(deployment: dict) -> dict:
    return named(pod(deployment)["containers"], "api")


def db(deployment: dict) -> dict:
    return named(pod(deployment)["containers"], "db")


def api_env(name: str, value: str) -> Callable[[dict], None]:
    return lambda d: named(api(d)["env"], name).update(value=value)


def secret_ref(container: Callable[[dict], dict], variable: str, **ref) -> Callable[[dict], None]:
    return lambda d: named(container(d)["env"], variable)["valueFrom"]["secretKeyRef"].update(ref)


def backend(ingress: dict) -> dict:
    return ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]


def password_in_env(deployment: dict) -> None:
    entry = named(api(deployment)["env"], "MYSQL_PASSWORD")
    del entry["valueFrom"]
    entry["value"] = "datascientest1234"


def password_in_probe(deployment: dict) -> None:
    ping = ["mysqladmin", "ping", "-h", "127.0.0.1", "-uroot", "-pdatascientest1234"]
    db(deployment)["readinessProbe"] = {"exec": {"command": ping}}


def plain_text_under_data(secret: dict) -> None:
    secret["data"] = secret.pop("stringData")


PASSWORD_READ = 'mysql_password = os.environ["MYSQL_PASSWORD"]'
ALL_USERS_QUERY = 'execute(text("SELECT id, username, email FROM Users;"))'
USER_QUERY = 'text("SELECT id, username, email FROM Users WHERE id = :user_id;"), {"user_id": user_id}'

# Each: the edits (file, change), and the (rule, file) pairs that must fail, no more.
MISTAKES: dict[str, tuple[list[tuple[str, Change]], set[tuple[str, str]]]] = {
    "one replica": ([(DEPLOYMENT, lambda d: d["spec"].update(replicas=1))], {("replicas", DEPLOYMENT)}),
    "the API alone in its Pod": (
        [(DEPLOYMENT, lambda d: pod(d).update(containers=[api(d)]))],
        {("two-containers", DEPLOYMENT), ("mysql-image", DEPLOYMENT)},
    ),
    "another MySQL image": (
        [(DEPLOYMENT, lambda d: db(d).update(image="mysql:8.0"))],
        {("mysql-image", DEPLOYMENT)},
    ),
    "a secretKeyRef to a misspelt Secret": (
        [(DEPLOYMENT, secret_ref(api, "MYSQL_PASSWORD", name="mysql-secrets"))],
        {("secret-refs", DEPLOYMENT)},
    ),
    "a secretKeyRef to a key the Secret lacks": (
        [(DEPLOYMENT, secret_ref(api, "MYSQL_PASSWORD", key="password"))],
        {("secret-refs", DEPLOYMENT)},
    ),
    "the Secret renamed": (
        [(SECRET, lambda s: s["metadata"].update(name="db-secret"))],
        {("secret-refs", DEPLOYMENT)},
    ),
    "two passwords": (
        [
            (SECRET, lambda s: s["stringData"].update(ROOT_PASSWORD="another-password")),
            (DEPLOYMENT, secret_ref(db, "MYSQL_ROOT_PASSWORD", key="ROOT_PASSWORD")),
        ],
        {("password-from-secret", DEPLOYMENT)},
    ),
    "the password in the Deployment": (
        [(DEPLOYMENT, password_in_env)],
        {("no-password-literal", DEPLOYMENT)},
    ),
    "the password in a probe": (
        [(DEPLOYMENT, password_in_probe)],
        {("no-password-literal", DEPLOYMENT)},
    ),
    "MySQL at localhost": ([(DEPLOYMENT, api_env("MYSQL_HOST", "localhost"))], {("mysql-host", DEPLOYMENT)}),
    "MySQL on another port": ([(DEPLOYMENT, api_env("MYSQL_PORT", "3307"))], {("mysql-port", DEPLOYMENT)}),
    "a selector the Pods do not match": (
        [(DEPLOYMENT, lambda d: d["spec"]["selector"]["matchLabels"].update(app="api"))],
        {("deployment-selector", DEPLOYMENT)},
    ),
    "a probe on an undeclared port": (
        [(DEPLOYMENT, lambda d: api(d)["readinessProbe"]["httpGet"].update(port="web"))],
        {("probe-ports", DEPLOYMENT)},
    ),
    "an unknown field": ([(DEPLOYMENT, lambda d: d["spec"].update(replica=3))], {("schema", DEPLOYMENT)}),
    "a Service selector with a typo": (
        [(SERVICE, lambda s: s["spec"]["selector"].update(app="api-mysq1"))],
        {("service-selector", SERVICE)},
    ),
    "a targetPort nothing listens on": (
        [(SERVICE, lambda s: s["spec"]["ports"][0].update(targetPort=80))],
        {("service-targetport", SERVICE)},
    ),
    "a targetPort of the MySQL container": (
        [(SERVICE, lambda s: s["spec"]["ports"][0].update(targetPort="mysql"))],
        {("service-targetport", SERVICE)},
    ),
    "an Ingress to another Service": (
        [(INGRESS, lambda i: backend(i).update(name="api-service"))],
        {("ingress-backend", INGRESS)},
    ),
    "an Ingress to a port the Service lacks": (
        [(INGRESS, lambda i: backend(i).update(port={"number": 80}))],
        {("ingress-backend", INGRESS)},
    ),
    "an Ingress of an API version that is gone": (
        [(INGRESS, lambda i: i.update(apiVersion="extensions/v1beta1"))],
        {("schema", INGRESS)},
    ),
    "the Service in the Ingress's file": (
        [(INGRESS, lambda i: i.update(kind="Service"))],
        {("file", INGRESS)},
    ),
    "plain text under data": (
        [(SECRET, plain_text_under_data)],
        {("secret-value", SECRET)},
    ),
    "the Secret in another namespace": (
        [(SECRET, lambda s: s["metadata"].update(namespace="exam"))],
        {("same-namespace", SECRET)},
    ),
    "the brief's typed path": (
        [(MAIN, ('"/users/{user_id}"', '"/users/{user_id:int}"'))],
        {("main-path", MAIN)},
    ),
    "SQL built with format": (
        [(MAIN, (USER_QUERY, 'text("SELECT * FROM Users WHERE id = {};".format(user_id))'))],
        {("main-sql-params", MAIN)},
    ),
    "SQL built with an f-string": (
        [(MAIN, (USER_QUERY, 'text(f"SELECT * FROM Users WHERE id = {user_id};")'))],
        {("main-sql-params", MAIN)},
    ),
    "SQL built with %": (
        [(MAIN, (USER_QUERY, 'text("SELECT * FROM Users WHERE id = %d" % user_id)'))],
        {("main-sql-params", MAIN)},
    ),
    "a plain string to execute": (
        [(MAIN, (ALL_USERS_QUERY, 'execute("SELECT * FROM Users;")'))],
        {("main-sql-text", MAIN)},
    ),
    "the password written in main.py": (
        [(MAIN, (PASSWORD_READ, 'mysql_password = "datascientest1234"'))],
        {("main-password-literal", MAIN), ("main-password-env", MAIN)},
    ),
    "the password as the default of its variable": (
        [(MAIN, (PASSWORD_READ, 'mysql_password = os.getenv("MYSQL_PASSWORD", "datascientest1234")'))],
        {("main-password-literal", MAIN)},
    ),
    "the password left to complete": (
        [(MAIN, (PASSWORD_READ, 'mysql_password = ""'))],
        {("main-password-env", MAIN)},
    ),
    "localhost in main.py": (
        [(MAIN, ('os.getenv("MYSQL_HOST", "127.0.0.1")', 'os.getenv("MYSQL_HOST", "localhost")'))],
        {("main-host", MAIN)},
    ),
    "the application named app": ([(MAIN, ("server = FastAPI(", "app = FastAPI("))], {("main-server", MAIN)}),
}


def test_the_committed_files_pass(tmp_path):
    run = check_exam(rendering(tmp_path / "exam", main=ROOT / "api" / MAIN))
    assert (run.code, run.files("FAIL")) == (0, set())


def test_a_correct_rendering_passes(tmp_path):
    run = check_exam(rendering(tmp_path / "exam"))
    assert (run.code, run.files("FAIL"), run.stderr) == (0, set(), "")


@pytest.mark.parametrize(("edits", "failing"), MISTAKES.values(), ids=MISTAKES)
def test_a_mistake_fails_its_rule_in_its_file(tmp_path, edits, failing):
    folder = rendering(tmp_path / "exam")
    for file, change in edits:
        make_mistake(folder, file, change)
    run = check_exam(folder)
    assert (run.code, run.files("FAIL")) == (1, failing)


WARNINGS = {
    "a class the grader may not have": (
        INGRESS,
        lambda i: i["spec"].update(ingressClassName="nginx"),
        "ingress-class",
    ),
    "an image from a registry on the laptop": (
        DEPLOYMENT,
        lambda d: api(d).update(image="localhost:5000/user-api:1.0.0"),
        "api-image",
    ),
    "an untagged image": (DEPLOYMENT, lambda d: api(d).update(image="learner/user-api"), "api-image"),
    "an image the nodes must already hold": (
        DEPLOYMENT,
        lambda d: api(d).update(image="learner/user-api:1.0.0", imagePullPolicy="Never"),
        "api-image",
    ),
    "MySQL through a Service": (DEPLOYMENT, api_env("MYSQL_HOST", "mysql-svc"), "mysql-host"),
    "a quote in the password": (
        SECRET,
        lambda s: s["stringData"].update(MYSQL_PASSWORD="it's"),
        "secret-value",
    ),
    "a path the API does not serve": (
        INGRESS,
        lambda i: i["spec"]["rules"][0]["http"]["paths"][0].update(path="/api"),
        "ingress-path",
    ),
}


@pytest.mark.parametrize(("file", "change", "rule"), WARNINGS.values(), ids=WARNINGS)
def test_what_may_fail_on_a_graders_cluster_warns_without_failing(tmp_path, file, change, rule):
    folder = rendering(tmp_path / "exam")
    make_mistake(folder, file, change)
    run = check_exam(folder)
    assert run.code == 0
    assert (rule, file) in run.files("WARN")


def test_the_renderings_make_exam_writes_raise_no_warning(tmp_path):
    # The committed files warn of the two things make exam replaces: the local image and the demo password.
    folder = rendering(tmp_path / "exam")
    assert check_exam(folder).files("WARN") == {("api-image", DEPLOYMENT), ("exam-password", SECRET)}
    make_mistake(folder, DEPLOYMENT, ("image: user-api:1.0.0", "image: docker.io/learner/user-api:1.0.0"))
    make_mistake(folder, SECRET, ('"demo-only-not-a-secret"', '"datascientest1234"'))
    run = check_exam(folder)
    assert (run.code, run.files("WARN")) == (0, set())


def test_a_failure_points_at_the_line_of_its_field(tmp_path):
    folder = rendering(tmp_path / "exam")
    make_mistake(folder, SERVICE, ("targetPort: http", "targetPort: web"))
    lines = (folder / SERVICE).read_text().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "targetPort: web" in text)
    assert ("FAIL", "service-targetport", f"{SERVICE}:{line}") in check_exam(folder).findings


UNREADABLE = {
    "not YAML": (SERVICE, "spec: [unclosed\n"),
    "a list": (SERVICE, "- apiVersion: v1\n- kind: Service\n"),
    "a plain string": (SERVICE, "the Service\n"),
    "empty": (SERVICE, ""),
    "two objects": (SERVICE, (ROOT / SERVICE).read_text() + "---\n" + (ROOT / INGRESS).read_text()),
    "an alias inside itself": (
        DEPLOYMENT,
        "apiVersion: apps/v1\nkind: Deployment\nspec: &spec {template: *spec}\n",
    ),
    "not UTF-8": (SECRET, b"\xff\xfe\x00k\x00i\x00n\x00d"),
    "not Python": (MAIN, "def get_user(:\n"),
    "a null byte in main.py": (MAIN, b"server = 1\x00\n"),
}


@pytest.mark.parametrize(("file", "content"), UNREADABLE.values(), ids=UNREADABLE)
def test_an_unreadable_file_is_named_and_its_rules_skipped(tmp_path, file, content):
    folder = rendering(tmp_path / "exam")
    (folder / file).write_bytes(content if isinstance(content, bytes) else content.encode())
    run = check_exam(folder)
    assert (run.code, run.stderr) == (1, "")
    assert run.files("FAIL") == {("file", file)}
    assert run.files("SKIP")  # the rules that read it


@pytest.mark.parametrize("file", [*FILES.values(), MAIN])
def test_a_missing_file_is_named(tmp_path, file):
    folder = rendering(tmp_path / "exam")
    (folder / file).unlink()
    run = check_exam(folder)
    assert (run.code, run.files("FAIL")) == (1, {("file", file)})


def test_a_schema_error_skips_the_rules_that_read_the_file(tmp_path):
    folder = rendering(tmp_path / "exam")
    make_mistake(folder, SERVICE, lambda s: s.update(spec={"selectr": {"app": "api-mysql"}}))
    run = check_exam(folder)
    assert run.files("FAIL") == {("schema", SERVICE)}
    assert {("service-selector", SERVICE), ("ingress-backend", INGRESS)} <= run.files("SKIP")


@pytest.mark.parametrize("args", [[], ["my-service-eval.yml"], ["no-such-folder"], ["a", "b"]])
def test_bad_usage_exits_2(args):
    run = subprocess.run(
        [sys.executable, CHECK_EXAM, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert (run.returncode, run.stdout) == (2, "")
    assert "usage: check-exam" in run.stderr


# python -S leaves site-packages out: PyYAML and kubernetes-validate are missing, as from a bare python3.
BARE_PYTHON = (sys.executable, "-S")


def test_a_python_without_the_packages_runs_it_again_in_the_checkouts_virtualenv(tmp_path):
    run = check_exam(rendering(tmp_path / "exam"), python=BARE_PYTHON, env={**os.environ, "PYTHONPATH": ""})
    assert (run.code, run.files("FAIL")) == (0, set())


def test_a_missing_package_is_named_with_how_to_install_it(tmp_path):
    # A checkout without a virtualenv; with yaml alone put back, kubernetes-validate is the one missing.
    alone = tmp_path / "scripts" / "check-exam"
    alone.parent.mkdir()
    shutil.copy(CHECK_EXAM, alone)
    only_yaml = tmp_path / "only-yaml"
    only_yaml.mkdir()
    (only_yaml / "yaml").symlink_to(Path(yaml.__file__).parent)
    for pythonpath, missing in (("", "PyYAML"), (str(only_yaml), "kubernetes-validate")):
        environment = {**os.environ, "PYTHONPATH": pythonpath}
        done = subprocess.run([*BARE_PYTHON, alone, ROOT], env=environment, capture_output=True, text=True)
        assert (done.returncode, done.stdout) == (2, "")
        assert missing in done.stderr and "scripts/bootstrap.sh exam" in done.stderr
