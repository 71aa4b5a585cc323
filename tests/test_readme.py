"""What README.md, doc/ and tests/README.md promise, held against the repository: the commands, names, files
and code symbols they point at must exist and agree with the manifests and scripts."""

import ast
import asyncio
import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from fastapi import FastAPI

from conftest import LANES
from devstack import ROOT
from k8s.manifests import FILES, container, load
from userapi.config import Settings, env_name

DOCS = {
    path: (ROOT / path).read_text()
    for path in (
        "README.md",
        "doc/RUNBOOK.md",
        "doc/CLUSTERS.md",
        "doc/FROM-PROVIDED-MAIN.md",
        "doc/ADAPTING.md",
        "doc/GLOSSARY.md",
        "doc/IMPLEMENTATION.md",
        "tests/README.md",
    )
}
README = DOCS["README.md"]
RUNBOOK = DOCS["doc/RUNBOOK.md"]
CLUSTERS = DOCS["doc/CLUSTERS.md"]
FROM_PROVIDED = DOCS["doc/FROM-PROVIDED-MAIN.md"]
ADAPTING = DOCS["doc/ADAPTING.md"]
MANIFESTS = load()
API_IMAGE = container(MANIFESTS, "api")["image"]
RENDERINGS = ("main.py", *FILES.values())  # what the exam brief asks to hand in

# Markdown, read line by line: a line starting with ``` opens or closes a fenced code block.
FENCE = re.compile(r"^\s*```")
# A command that deploys to a cluster, after any VAR=value assignments in front of it.
DEPLOY_COMMAND = re.compile(r"^(\w+=\S*\s+)*(make deploy|kubectl apply|scripts/deploy\.sh)\b")
WORD_BUDGET = 350
FIRST_SCREEN_LINES = 60
EXAM_SCREEN_LINES = 50


def lines(markdown: str) -> list[tuple[bool, str]]:
    """Each line but the fences, with whether it is inside a fenced code block."""
    result, in_code = [], False
    for line in markdown.splitlines():
        if FENCE.match(line):
            in_code = not in_code
        else:
            result.append((in_code, line))
    return result


def code(markdown: str) -> str:
    return "\n".join(line for in_code, line in lines(markdown) if in_code)


def code_blocks(markdown: str) -> list[str]:
    return [block.strip("\n") for block in re.findall(r"^```\w*\n(.*?)^```", markdown, re.M | re.S)]


def prose_words_before_first_deploy_command(markdown: str) -> int:
    """Prose words: whitespace-separated tokens outside fenced code blocks (headings, paragraphs, lists
    and tables all count) that hold a letter or digit, so table bars, list dashes and `#` do not. Counted
    up to the first line of a fenced block that runs `make deploy`, `kubectl apply` or scripts/deploy.sh."""
    words = 0
    for in_code, line in lines(markdown):
        if in_code and DEPLOY_COMMAND.match(line.strip()):
            return words
        if not in_code:
            words += sum(1 for token in line.split() if re.search(r"\w", token))
    raise AssertionError("no fenced code block runs make deploy or kubectl apply")


def section(markdown: str, title: str) -> str:
    """From the heading `## title` to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no section '## {title}'"
    return match.group(1)


def table_rows(markdown: str) -> list[list[str]]:
    rows = [line.strip().strip("|").split(" | ") for _, line in lines(markdown) if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[2:]]  # without the header and its rule


def ticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def defines(path: Path, symbol: str) -> bool:
    """Whether a Python file defines `symbol` (a module-level name, or Class.member), or holds the string
    literal `"symbol"`."""
    tree = ast.parse(path.read_text())
    if symbol.startswith('"'):
        return any(
            isinstance(node, ast.Constant) and node.value == symbol.strip('"') for node in ast.walk(tree)
        )
    body = tree.body
    for part in symbol.split("."):
        found = next((node for node in body if part in names_defined_by(node)), None)
        if found is None:
            return False
        body = getattr(found, "body", [])
    return True


def names_defined_by(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    if isinstance(node, ast.Assign):
        return {target.id for target in node.targets if isinstance(target, ast.Name)}
    return set()


# The README's first screen and its word budget.


def test_the_word_count_counts_prose_only():
    sample = (
        "# Title here\n\n- one `two`\n\n| a | b |\n| --- | --- |\n\n```bash\nnot counted\nmake deploy\n```\n"
    )
    assert prose_words_before_first_deploy_command(sample) == 6  # Title here one `two` a b


def test_at_most_350_words_of_prose_come_before_the_first_command_that_deploys():
    words = prose_words_before_first_deploy_command(README)
    assert words <= WORD_BUDGET, f"{words} words of prose before the first deploy command"


def test_the_first_screen_serves_the_four_things_users_do():
    first_screen = code("\n".join(README.splitlines()[:FIRST_SCREEN_LINES]))
    for command in (
        "docker compose up",
        "make deploy",
        "kubectl apply -k .",
        "curl http://<ADDRESS>/",
        "scripts/capture-proof.sh",
    ):
        assert command in first_screen, command


def test_the_prerequisites_come_first_and_match_the_deployment():
    prerequisites = README[: README.index("```")]
    requested = sum(
        int(container(MANIFESTS, name)["resources"]["requests"]["memory"].removesuffix("Mi"))
        for name in ("db", "api")
    )
    for fact in (
        "amd64",
        f"{requested}Mi",  # per Pod; a rollout runs a 4th
        "kubectl",
        "docker or podman",
        "make, jq and curl",  # what make deploy runs besides kubectl
        "ingress controller",
        "/etc/rancher/k3s/k3s.yaml",
        "--write-kubeconfig-mode",
        "k3s ctr",
    ):
        assert fact in prerequisites, fact


def test_development_comes_after_the_deploy_commands_and_says_what_it_installs():
    development = section(README, "Development")
    assert README.index("## Development") > README.index("make deploy")
    assert "make run" in code(development) and "make test" in code(development)
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    for package in ("MariaDB", "podman", "buildah", "runc", "catatonit", "debootstrap", "docker-compose"):
        assert package in development and package.lower() in bootstrap.lower(), package


# The cluster steps, against the manifests.


def test_every_applied_file_exists_in_dependency_order():
    for doc in (README, CLUSTERS):
        assert re.findall(r"kubectl apply -f (\S+\.yml)", doc) == list(FILES.values())


def test_object_names_match_the_manifests():
    text = README + CLUSTERS + RUNBOOK

    def named(pattern: str) -> set[str]:
        return set(re.findall(pattern, text))

    assert named(r"deployment/([\w-]+)") == {MANIFESTS["Deployment"]["metadata"]["name"]}
    assert named(r"svc/([\w-]+)") | named(r"service-name=([\w-]+)") == {
        MANIFESTS["Service"]["metadata"]["name"]
    }
    assert named(r"get ingress ([\w-]+)") == {MANIFESTS["Ingress"]["metadata"]["name"]}
    assert named(r"secret generic ([\w-]+)") == {MANIFESTS["Secret"]["metadata"]["name"]}
    assert named(r"-l app=([\w-]+)") == {MANIFESTS["Deployment"]["spec"]["selector"]["matchLabels"]["app"]}


def test_images_ports_and_class_match_the_manifests():
    assert f"-t {API_IMAGE} ./api" in CLUSTERS
    assert (
        f"docker save -o user-api.tar {API_IMAGE}" in CLUSTERS
        and "kind load image-archive user-api.tar" in CLUSTERS
    )
    # By hand the runbook names the image as containerd does, so docker and podman builds both match.
    assert set(re.findall(r"-t (\S+) \./api", RUNBOOK)) == {f"docker.io/library/{API_IMAGE}"}
    assert container(MANIFESTS, "db")["image"] in README
    assert f"class `{MANIFESTS['Ingress']['spec']['ingressClassName']}`" in README
    port = MANIFESTS["Service"]["spec"]["ports"][0]["port"]
    assert f"api-svc:{port}" in README and f"port {port}" in README
    assert f"key `{next(iter(MANIFESTS['Secret']['stringData']))}`" in README


@pytest.mark.parametrize("doc", DOCS)
def test_linked_files_exist(doc):
    folder = (ROOT / doc).parent
    for link in re.findall(r"\]\(([^)#:]+)\)", DOCS[doc]):
        assert (folder / link).exists(), f"{doc} links to {link}"


def test_every_make_target_named_exists():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    text = "\n".join(DOCS.values())
    named = set(re.findall(r"`make ([\w-]+)", text)) | set(
        re.findall(r"^(?:\w+=\S+ )*make ([\w-]+)", text, re.M)
    )
    assert {"run", "test", "deploy", "undeploy"} <= named <= targets


def test_the_secret_recipe_is_safe_for_the_mysql_entrypoint_and_shows_nothing():
    for doc in (README, CLUSTERS):
        (recipe,) = [line for line in code(doc).splitlines() if "secret generic" in line]
        assert (
            recipe.startswith("openssl rand -hex 24 |") and "--from-file=MYSQL_PASSWORD=/dev/stdin" in recipe
        )
    text = "\n".join(DOCS.values())
    assert "--from-literal" not in text  # a password in an argument list shows in the process list
    for character in ("`'`", '`"`', "`\\`"):
        assert character in CLUSTERS  # the characters to avoid are named


def test_the_cluster_specific_pitfalls_are_covered():
    for fact in (
        "amd64 only",  # Apple-silicon kind/minikube and arm64 k3s cannot pull the MySQL image
        "arm64",
        "kind load image-archive",  # kind load docker-image and the containerd image store
        "kind issue 3795",
        "multi-node k3s",  # k3s ctr images import loads one node
        "k3d image import",
        "kubectl rollout restart deployment/api-mysql",  # same tag rebuilt
        "REGISTRY=",
        "docker.io/library/user-api:1.0.0",  # podman's localhost/ prefix
    ):
        assert fact in CLUSTERS, fact


def test_no_document_recommends_the_retired_ingress_nginx():
    for doc, text in DOCS.items():
        assert "ingress-nginx" not in text, doc


# The runbook: commands only, one block per cluster.


def test_the_runbook_is_one_block_of_commands_per_cluster():
    prose = [line for in_code, line in lines(RUNBOOK) if not in_code and line.strip()]
    assert [line for line in prose if line.startswith("## ")] == ["## k3s", "## minikube", "## kind"]
    assert len(prose) == 5  # the title, one line that links the explanations, and the three headings
    assert len(code_blocks(RUNBOOK)) == 3


@pytest.mark.parametrize("cluster", ["k3s", "minikube", "kind"])
def test_each_runbook_block_goes_from_an_empty_cluster_to_evidence_and_back(cluster):
    (block,) = code_blocks(section(RUNBOOK, cluster))
    for command in (
        "make deploy",
        "kubectl apply -k .",
        "kubectl rollout status deployment/api-mysql",
        "scripts/capture-proof.sh",
        "kubectl rollout restart deployment/api-mysql",  # after a rebuild under the same tag
        "make undeploy",
        "kubectl delete -k .",
    ):
        assert command in block, command
    (by_file,) = re.findall(r"^kubectl delete (-f .*)$", block, re.M)
    assert re.findall(r"-f (\S+)", by_file) == list(reversed(FILES.values()))


# The exam.


def test_the_exam_section_maps_each_rendering_to_files_that_exist():
    exam = section(README, "Exam")
    mapped = {}
    for rendering, here in table_rows(exam):
        for name in ticked(rendering):
            mapped[name] = here
    assert set(RENDERINGS) <= set(mapped)
    for here in mapped.values():
        for path in ticked(here):
            if re.fullmatch(r"[\w./-]+(\.py|\.yml|/|Dockerfile)", path):
                # A bare module name (config.py) is one of api/userapi/'s.
                assert (ROOT / path).exists() or (ROOT / "api" / "userapi" / path).exists(), path
    assert "`api/main.py`" in mapped["main.py"] and "`api/userapi/`" in mapped["main.py"]


def test_the_exam_section_shows_the_password_the_docker_hub_flow_and_what_the_grader_sees():
    exam = section(README, "Exam")
    assert "MYSQL_PASSWORD=datascientest1234 make deploy" in exam
    assert "`my-secret-eval.yml`" in exam
    assert "openssl rand -hex 24" in exam  # the generated password, for anything that is not an exam
    assert "REGISTRY=docker.io/<user> make deploy" in exam
    assert f"docker build -t docker.io/<user>/{API_IMAGE} ./api" in exam
    assert f"docker push docker.io/<user>/{API_IMAGE}" in exam
    assert f"in place of\n`{API_IMAGE}`" in exam  # where the name goes in the Deployment
    for sight in ("rollout status deployment/api-mysql", "3 Pods", "READY 2/2", "`/status`", "`/users/1`"):
        assert sight in exam, sight


def test_deploy_sh_accepts_the_documented_registry():
    script = (ROOT / "scripts" / "deploy.sh").read_text()
    (registry_rule,) = re.findall(r"matches \"\$\{REGISTRY\}\" '([^']+)'", script)
    assert re.fullmatch(registry_rule, "docker.io/learner")


def test_the_exam_section_fits_one_screen():
    assert len(section(README, "Exam").splitlines()) <= EXAM_SCREEN_LINES


def test_the_sample_pods_are_the_deployments():
    (sample,) = [
        block for block in code_blocks(section(README, "What success looks like")) if "READY" in block
    ]
    containers = len(MANIFESTS["Deployment"]["spec"]["template"]["spec"]["containers"])
    ready = re.findall(rf"^api-mysql-\S+ +{containers}/{containers} +Running", sample, re.M)
    assert len(ready) == MANIFESTS["Deployment"]["spec"]["replicas"]


def test_the_sample_summary_rows_are_what_capture_proof_writes():
    script = (ROOT / "scripts" / "capture-proof.sh").read_text()
    # record CHECK PASS "DETAIL"; check_http's checks share one template, DETAIL's variables match anything.
    templates = dict(re.findall(r'record "?\$?\{?(\w+)\}?"? PASS "([^"]+)"', script))
    shared = templates.pop("check")
    templates.update((check, shared) for check in re.findall(r"^\s*check_http (\w+) ", script, re.M))
    patterns = {
        check: re.sub(r"\\\$\\\{\w+\\\}", ".+", re.escape(detail)) for check, detail in templates.items()
    }
    rows = {row[0]: row for row in table_rows(section(README, "What success looks like"))}
    assert set(rows) == set(patterns)
    for check, (_, result, detail) in rows.items():
        assert result == "PASS" and re.fullmatch(patterns[check], detail), check


# Pointers into the code (`file::symbol`), and what the provided main.py did.


def get(app: FastAPI, path: str) -> httpx.Response:
    async def request() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(request())


POINTER = re.compile(r"`([\w./-]+\.py)::([^`]+)`")


@pytest.mark.parametrize("doc", ["doc/FROM-PROVIDED-MAIN.md", "doc/ADAPTING.md"])
def test_every_file_and_symbol_a_doc_points_at_exists(doc):
    pointers = POINTER.findall(DOCS[doc])
    assert len(pointers) >= 4
    for path, symbol in pointers:
        assert (ROOT / path).exists(), path
        assert defines(ROOT / path, symbol), f"{path} does not define {symbol}"


def test_each_fix_of_the_provided_main_has_a_section_that_points_at_the_code():
    for topic in ("text()", "path parameter", "localhost", "password", "format()", "404"):
        (heading,) = [line for line in FROM_PROVIDED.splitlines() if line.startswith("## ") and topic in line]
        assert POINTER.search(section(FROM_PROVIDED, heading.removeprefix("## "))), heading


def test_the_errors_quoted_for_the_provided_main_are_what_the_pinned_libraries_do():
    # SQLAlchemy 2 refuses a plain string.
    refused = pytest.raises(sqlalchemy.exc.ObjectNotExecutableError, match="Not an executable object")
    with sqlalchemy.create_engine("sqlite://").connect() as connection, refused:
        connection.execute("SELECT 1")
    assert "ObjectNotExecutableError: Not an executable object" in FROM_PROVIDED
    # The provided route: it routes, the parameter has no type, and a non-integer is a bare 404.
    provided = FastAPI()

    @provided.get("/users/{user_id:int}")
    async def get_user(user_id):
        return user_id

    assert get(provided, "/users/7").json() == 7
    assert get(provided, "/users/abc").status_code == 404
    (parameter,) = provided.openapi()["paths"]["/users/{user_id}"]["get"]["parameters"]
    assert "type" not in parameter["schema"]
    assert "bare `404 Not Found`" in FROM_PROVIDED


# Adapting, the glossary, the test guide.


def test_adapting_names_every_setting_that_holds_a_manifest_name():
    deploy = (ROOT / "scripts" / "deploy.sh").read_text()
    committed = re.search(r"# What the committed manifests name\.\n((?:readonly .*\n)+)", deploy).group(1)
    for name, value in re.findall(r"(\w+)=([\w=.-]+)", committed):
        assert f"`{name}`" in ADAPTING and value.removeprefix("app=") in ADAPTING, name
    capture = (ROOT / "scripts" / "capture-proof.sh").read_text()
    for name in (
        "DEPLOYMENT",
        "SELECTOR",
        "SERVICE",
        "SERVICE_PORT",
        "INGRESS",
        "REPLICAS",
        "CONTAINERS_PER_POD",
    ):
        assert f'readonly {name}="${{{name}:-' in capture and f"`{name}`" in ADAPTING, name


def test_adapting_points_at_symbols_that_exist():
    pairs = re.findall(r"`([\w./-]+\.(?:py|sh))` ((?:`[\w.]+`(?:,? (?:and )?)?)+)", ADAPTING)
    assert len(pairs) >= 10
    for path, symbols in pairs:
        for symbol in ticked(symbols):
            if path.endswith(".py"):
                assert defines(ROOT / path, symbol), f"{path} does not define {symbol}"
            else:
                assert re.search(rf"\b{symbol}=", (ROOT / path).read_text()), f"{path} has no {symbol}"
    assert "read-only" in ADAPTING and "diverge" in ADAPTING  # the per-Pod MySQL's limit, said plainly


def test_the_glossary_defines_each_term():
    glossary = DOCS["doc/GLOSSARY.md"]
    for term in ("Sidecar", "Network namespace", "emptyDir", "IngressClass", "EndpointSlice", "Overlay"):
        assert f"**{term}.**" in glossary, term


def test_the_test_guide_names_every_lane_marker_and_example():
    guide = DOCS["tests/README.md"]
    for lane, paths in LANES.items():
        assert f"`{lane}`" in guide and all(f"`{path}" in guide for path in paths), lane
    markers = re.search(r"^markers = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    for marker in re.findall(r'"(\w+):', markers):
        assert f"`{marker}`" in guide, marker
    for path, test in re.findall(r"pytest (tests/\S+\.py)::(\w+)", guide):
        assert re.search(rf"^(async )?def {test}\(", (ROOT / path).read_text(), re.M), f"{path}::{test}"
    for path in re.findall(r"`((?:tests|scripts)/[\w./-]+)`", guide):
        assert (ROOT / path).exists(), path


def test_the_runbook_installs_traefik_on_kind_as_the_ci_workflow_does():
    def one_line(text: str) -> str:
        return " ".join(text.replace("\\\n", " ").split())

    (helm,) = re.findall(r"^helm upgrade --install traefik .*\\\n.*$", section(RUNBOOK, "kind"), re.M)
    assert one_line(helm) in one_line((ROOT / ".github" / "workflows" / "ci.yml").read_text())


def test_the_settings_table_lists_every_setting_with_its_default():
    rows = {ticked(row[0])[0]: ticked(row[1]) for row in table_rows(section(README, "Settings"))}
    expected = {}
    for name, field in Settings.model_fields.items():
        default = field.get_default()
        shown = default.get_secret_value() if hasattr(default, "get_secret_value") else default
        expected[env_name(name)] = [str(shown)] if shown != "" else []
    assert rows == expected
