"""scripts/check-exam, run as a learner runs it (.venv/bin/python scripts/check-exam DIR): on the committed
files, on whole renderings written the way learners write them (exam_renderings/), and on renderings that
each make one typical mistake."""

import base64
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
RENDERINGS = Path(__file__).with_name("exam_renderings")
STATUSES = ("PASS", "WARN", "FAIL", "SKIP")
SECRET, DEPLOYMENT, SERVICE, INGRESS = FILES.values()
MAIN = "main.py"


class Run(NamedTuple):
    code: int
    findings: list[tuple[str, str, str]]  # (status, rule, file[:line]), one per result line
    stderr: str

    def found(self, *statuses: str) -> set[tuple[str, str, str]]:
        """(status, rule, file) of each finding of these statuses."""
        return {
            (status, rule, where.split(":")[0]) for status, rule, where in self.findings if status in statuses
        }

    def problems(self) -> tuple[int, set[tuple[str, str, str]]]:
        return self.code, self.found("FAIL", "WARN")


def check_exam(*args: str | Path, python: tuple[str, ...] = (sys.executable,), **popen) -> Run:
    done = subprocess.run(
        [*python, CHECK_EXAM, *args], capture_output=True, text=True, timeout=60, check=False, **popen
    )
    findings = [
        tuple(line.split(maxsplit=3)[:3]) for line in done.stdout.splitlines() if line[:4] in STATUSES
    ]
    return Run(done.returncode, findings, done.stderr)


def copy_committed(folder: Path, main: Path) -> Path:
    folder.mkdir()
    for name in FILES.values():
        shutil.copy(ROOT / name, folder / name)
    shutil.copy(main, folder / MAIN)
    return folder


def rendering(folder: Path, main: Path = LEARNER_MAIN) -> Path:
    """An exam folder as make exam writes it: the committed manifests with a pushed image and the brief's
    password, and a main.py."""
    copy_committed(folder, main)
    edit(folder, DEPLOYMENT, ("image: user-api:1.0.0", "image: docker.io/learner/user-api:1.0.0"))
    edit(folder, SECRET, ('"demo-only-not-a-secret"', '"datascientest1234"'))
    return folder


Change = Callable[[dict], object] | tuple[str, str]


def edit(folder: Path, file: str, change: Change) -> None:
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


def backend(ingress: dict) -> dict:
    return ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]


def secret_ref(container: Callable[[dict], dict], variable: str, **ref: str) -> Callable[[dict], None]:
    return lambda d: named(container(d)["env"], variable)["valueFrom"]["secretKeyRef"].update(ref)


def password_in_probe(deployment: dict) -> None:
    ping = ["mysqladmin", "ping", "-h", "127.0.0.1", "-uroot", "-pdatascientest1234"]
    db(deployment)["readinessProbe"] = {"exec": {"command": ping}}


def plain_text_under_data(secret: dict) -> None:
    secret["data"] = secret.pop("stringData")


def echo_base64(secret: dict) -> None:
    # echo 'datascientest1234' | base64: echo adds a line break, which becomes part of the password.
    secret["data"] = {"MYSQL_PASSWORD": base64.b64encode(b"datascientest1234\n").decode()}
    del secret["stringData"]


HOST_READ = 'mysql_url = os.getenv("MYSQL_HOST", "127.0.0.1")'
PASSWORD_READ = 'mysql_password = os.environ["MYSQL_PASSWORD"]'
F, W = "FAIL", "WARN"

# Edits of what make exam writes, each a typical learner mistake or a correct way of their own, and what
# check-exam then reports: its exit status, and (status, rule, file) of each FAIL and WARN, no more.
EDITS: dict[str, tuple[list[tuple[str, Change]], tuple[int, set]]] = {
    "one replica": (
        [(DEPLOYMENT, lambda d: d["spec"].update(replicas=1))],
        (1, {(F, "replicas", DEPLOYMENT)}),
    ),
    "the API alone in its Pod": (
        [(DEPLOYMENT, lambda d: pod(d).update(containers=[api(d)]))],
        (1, {(F, "two-containers", DEPLOYMENT), (F, "mysql-image", DEPLOYMENT)}),
    ),
    "a selector the Pods do not match": (
        [(DEPLOYMENT, lambda d: d["spec"]["selector"]["matchLabels"].update(app="api"))],
        (1, {(F, "deployment-selector", DEPLOYMENT)}),
    ),
    "the Secret in another namespace": (
        [(SECRET, lambda s: s["metadata"].update(namespace="exam"))],
        (1, {(F, "same-namespace", SECRET)}),
    ),
    "MySQL at localhost": (
        [(DEPLOYMENT, lambda d: named(api(d)["env"], "MYSQL_HOST").update(value="localhost"))],
        (1, {(F, "mysql-host", DEPLOYMENT)}),
    ),
    "the host left to complete": ([(MAIN, (HOST_READ, 'mysql_url = ""'))], (1, {(F, "mysql-host", MAIN)})),
    "a secretKeyRef to a misspelt Secret": (
        [(DEPLOYMENT, secret_ref(api, "MYSQL_PASSWORD", name="mysql-secrets"))],
        (1, {(F, "secret-wiring", DEPLOYMENT)}),
    ),
    "two keys, one password": (
        [
            (SECRET, lambda s: s["stringData"].update(ROOT_PASSWORD="datascientest1234")),
            (DEPLOYMENT, secret_ref(db, "MYSQL_ROOT_PASSWORD", key="ROOT_PASSWORD")),
        ],
        (0, set()),
    ),
    "two keys, two passwords": (
        [
            (SECRET, lambda s: s["stringData"].update(ROOT_PASSWORD="another-password")),
            (DEPLOYMENT, secret_ref(db, "MYSQL_ROOT_PASSWORD", key="ROOT_PASSWORD")),
        ],
        (1, {(F, "secret-wiring", DEPLOYMENT)}),
    ),
    "the host beside the password in the Secret": (
        [(SECRET, lambda s: s["stringData"].update(MYSQL_HOST="127.0.0.1"))],
        (0, set()),
    ),
    "the password encoded with echo": ([(SECRET, echo_base64)], (1, {(F, "secret-value", SECRET)})),
    "plain text under data": ([(SECRET, plain_text_under_data)], (1, {(F, "secret-value", SECRET)})),
    "the password in a probe": (
        [(DEPLOYMENT, password_in_probe)],
        (1, {(F, "no-password-literal", DEPLOYMENT)}),
    ),
    "a password variable the Pod does not set": (
        [(MAIN, (PASSWORD_READ, 'mysql_password = os.environ["DB_PASSWORD"]'))],
        (1, {(F, "secret-wiring", DEPLOYMENT)}),
    ),
    "the password written in main.py": (
        [(MAIN, (PASSWORD_READ, 'mysql_password = "datascientest1234"'))],
        (1, {(F, "no-password-literal", MAIN), (F, "secret-wiring", MAIN)}),
    ),
    "a Service selector with a typo": (
        [(SERVICE, lambda s: s["spec"]["selector"].update(app="api-mysq1"))],
        (1, {(F, "service-selector", SERVICE)}),
    ),
    "a targetPort of the MySQL container": (
        [(SERVICE, lambda s: s["spec"]["ports"][0].update(targetPort="mysql"))],
        (1, {(F, "service-targetport", SERVICE)}),
    ),
    "an Ingress to another Service": (
        [(INGRESS, lambda i: backend(i).update(name="api"))],
        (1, {(F, "ingress-backend", INGRESS)}),
    ),
    "an Ingress of an API version that is gone": (
        [(INGRESS, lambda i: i.update(apiVersion="extensions/v1beta1"))],
        (1, {(F, "schema", INGRESS)}),
    ),
    "an Ingress for one host name": (
        [(INGRESS, lambda i: i["spec"]["rules"][0].update(host="user-api.example.com"))],
        (0, {(W, "ingress-reach", INGRESS)}),
    ),
    "the application named app": (
        [(MAIN, ("server = FastAPI(", "app = FastAPI("))],
        (1, {(F, "main-server", MAIN)}),
    ),
}


@pytest.mark.parametrize(("edits", "reported"), EDITS.values(), ids=EDITS)
def test_an_edit_is_judged_by_its_rule_in_its_file(tmp_path, edits, reported):
    folder = rendering(tmp_path / "exam")
    for file, change in edits:
        edit(folder, file, change)
    assert check_exam(folder).problems() == reported


# Whole renderings written the way learners write them, with names of their own, and what check-exam then
# reports.
LEARNERS = {
    # Correct: the password under DB_PASS and the host, both from the Secret through envFrom, numeric
    # ports, class traefik.
    "traefik-correct": (0, {(W, "ingress-reach", INGRESS)}),
    # An image in a registry on the laptop, no ports declared, a host variable nothing sets, the password
    # encoded with echo, SQL built with format(), an Ingress for one host name of class nginx.
    "nginx-host-unset": (
        1,
        {
            (W, "api-image", DEPLOYMENT),
            (F, "mysql-host", MAIN),
            (F, "secret-value", SECRET),
            (W, "service-targetport", SERVICE),
            (W, "ingress-reach", INGRESS),
            (F, "main-sql", MAIN),
        },
    ),
    # pydantic-settings; an image tagged latest, the host a Service name, a key the Secret lacks, the path
    # /api, the brief's typed path, a plain string to execute().
    "settings-service-name": (
        1,
        {
            (W, "api-image", DEPLOYMENT),
            (W, "mysql-host", DEPLOYMENT),
            (F, "secret-wiring", DEPLOYMENT),
            (W, "ingress-reach", INGRESS),
            (F, "main-path", MAIN),
            (F, "main-sql", MAIN),
        },
    ),
}


@pytest.mark.parametrize(("name", "reported"), LEARNERS.items(), ids=LEARNERS)
def test_a_learners_own_rendering_is_judged_on_what_it_does(name, reported):
    assert check_exam(RENDERINGS / name).problems() == reported


def test_the_committed_files_warn_only_of_the_image_and_password_make_exam_replaces(tmp_path):
    run = check_exam(copy_committed(tmp_path / "exam", ROOT / "api" / MAIN))
    assert run.problems() == (0, {(W, "api-image", DEPLOYMENT), (W, "secret-value", SECRET)})


@pytest.mark.parametrize(
    "main", [ROOT / "api" / MAIN, LEARNER_MAIN], ids=["api/main.py", "a learner's main.py"]
)
def test_what_make_exam_writes_passes_with_no_warning(tmp_path, main):
    run = check_exam(rendering(tmp_path / "exam", main))
    assert (run.problems(), run.stderr) == ((0, set()), "")


def test_a_failure_points_at_the_line_of_its_field(tmp_path):
    folder = rendering(tmp_path / "exam")
    edit(folder, SERVICE, ("targetPort: http", "targetPort: web"))
    lines = (folder / SERVICE).read_text().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "targetPort: web" in text)
    assert ("FAIL", "service-targetport", f"{SERVICE}:{line}") in check_exam(folder).findings


UNREADABLE = {
    "missing": (SERVICE, None),
    "not YAML": (SERVICE, "spec: [unclosed\n"),
    "not Python": (MAIN, "def get_user(:\n"),
}


@pytest.mark.parametrize(("file", "content"), UNREADABLE.values(), ids=UNREADABLE)
def test_an_unreadable_file_is_named_and_the_rules_that_read_it_skipped(tmp_path, file, content):
    folder = rendering(tmp_path / "exam")
    (folder / file).unlink()
    if content is not None:
        (folder / file).write_text(content)
    run = check_exam(folder)
    assert (run.code, run.found("FAIL"), run.stderr) == (1, {(F, "file", file)}, "")
    assert run.found("SKIP")


def test_a_schema_error_skips_the_rules_that_read_the_file(tmp_path):
    folder = rendering(tmp_path / "exam")
    edit(folder, SERVICE, lambda s: s.update(spec={"selectr": {"app": "api-mysql"}}))
    run = check_exam(folder)
    assert run.found("FAIL") == {(F, "schema", SERVICE)}
    assert {("SKIP", "service-selector", SERVICE), ("SKIP", "ingress-backend", INGRESS)} <= run.found("SKIP")


@pytest.mark.parametrize("args", [[], ["my-service-eval.yml"], ["a", "b"]])
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
    assert run.problems() == (0, set())


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
