"""Offline linters over the Dockerfiles and the shell scripts: each must report nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

from devstack import ROOT

BIN = Path(sys.executable).parent
DOCKERFILES = [ROOT / "api" / "Dockerfile", *ROOT.glob("tests/standins/*/Containerfile")]
SHELL_SCRIPTS = sorted({*ROOT.glob("scripts/**/*.sh"), *ROOT.glob("tests/**/*.sh"), ROOT / ".ci" / "run"})


def lint(tool: str, *args: str, source: str | None = None) -> subprocess.CompletedProcess:
    """Run a linter on files, or on `source` given on standard input ("-")."""
    return subprocess.run(
        [str(BIN / tool), *args], input=source, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_hadolint_finds_nothing(dockerfile):
    result = lint("hadolint", "--config", ".hadolint.yaml", str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_shellcheck_finds_nothing(script):
    result = lint("shellcheck", "--external-sources", str(script))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linters_do_report_problems():
    # A bad Dockerfile and a bad script, so a silent linter cannot pass the tests above.
    bad = lint("hadolint", "-", source="FROM python\nRUN cd /tmp\n")
    assert bad.returncode != 0 and "DL3006" in bad.stdout
    bad = lint("shellcheck", "-", source="#!/bin/bash\necho $1\n")
    assert bad.returncode != 0 and "SC2086" in bad.stdout
