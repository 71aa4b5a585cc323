"""The docs, checked for drift only: links and anchors resolve, every `make` target they name exists, every
`file::symbol` they point at is defined, the settings table is the settings model, and the apply order is
kustomization.yaml's."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from devstack import ROOT
from main import Settings

DOCS = sorted(
    path.relative_to(ROOT).as_posix()
    for path in [ROOT / "README.md", ROOT / "tests" / "README.md", *(ROOT / "doc").rglob("*.md")]
)
FENCED = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
POINTER = re.compile(r"`([\w./-]+\.py)::([\w.]+)`")


def prose(doc: str) -> str:
    """A doc without its fenced code blocks."""
    return FENCED.sub("", (ROOT / doc).read_text())


def anchors(doc: str) -> set[str]:
    """GitHub's anchors for the headings of a doc: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", prose(doc), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def defines(path: Path, symbol: str) -> bool:
    """Whether a Python file defines `symbol`: a module-level name, or Class.member."""
    body = ast.parse(path.read_text()).body
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


def section(doc: str, title: str) -> str:
    """From the heading `## title` to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", prose(doc), re.M | re.S)
    assert match, f"{doc} has no section '## {title}'"
    return match.group(1)


@pytest.mark.parametrize("doc", DOCS)
def test_links_and_anchors_resolve(doc):
    folder = (ROOT / doc).parent
    for link in LINK.findall(prose(doc)):
        if link.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = link.partition("#")
        target = (folder / path).resolve() if path else ROOT / doc
        assert target.exists(), f"{doc} links to {link}: no such file"
        if anchor and target.suffix == ".md":
            assert anchor in anchors(target.relative_to(ROOT).as_posix()), f"{doc} links to {link}"


def test_every_make_target_named_exists():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    # Commands only: lines of fenced blocks and `inline spans` that run make (in prose, "make" is a verb).
    code = [
        snippet
        for doc in DOCS
        for snippet in FENCED.findall((ROOT / doc).read_text()) + re.findall(r"`([^`\n]+)`", prose(doc))
    ]
    named = set(re.findall(r"^\s*(?:\w+=\S+\s+)*make ([a-z][\w-]*)", "\n".join(code), re.M))
    assert {"run", "test", "deploy", "exam"} <= named
    assert named <= targets, f"named but not in the Makefile: {named - targets}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_file_and_symbol_a_doc_points_at_exists(doc):
    for path, symbol in POINTER.findall((ROOT / doc).read_text()):
        assert (ROOT / path).exists(), f"{doc} points at {path}"
        assert defines(ROOT / path, symbol), f"{doc} points at {path}::{symbol}, which it does not define"


def test_the_settings_table_is_the_settings_model():
    # Each row: `NAME` | `default` (no backticks: no default) | meaning.
    cells = [line.split("|")[1:3] for line in section("README.md", "Settings").splitlines() if "|" in line]
    rows = [(name, default) for name, default in cells if name.strip().startswith("`MYSQL_")]
    table = {name.strip(" `"): "".join(re.findall(r"`([^`]*)`", default)) for name, default in rows}
    model = {}
    for name, field in Settings.model_fields.items():
        default = field.get_default()
        model[name] = str(default.get_secret_value() if hasattr(default, "get_secret_value") else default)
    assert table == model


def test_every_apply_of_the_four_files_follows_kustomizations_order():
    order = yaml.safe_load((ROOT / "kustomization.yaml").read_text())["resources"]
    for doc in DOCS:
        for block in FENCED.findall((ROOT / doc).read_text()):
            applied = re.findall(r"kubectl apply -f (\S+\.yml)", block)
            if applied:
                assert applied == [name for name in order if name in applied], doc
