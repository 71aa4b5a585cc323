"""Offline linters over the Dockerfiles and the shell scripts: each must report nothing."""

import pytest

from devstack import ROOT
from support.tools import run_tool

DOCKERFILES = [ROOT / "api" / "Dockerfile", *ROOT.glob("tests/standins/*/Containerfile")]
SHELL_SCRIPTS = sorted(
    {
        *ROOT.glob("scripts/**/*.sh"),
        *ROOT.glob("tests/**/*.sh"),
        *ROOT.glob(".github/**/*.sh"),
        ROOT / ".ci" / "run",
    }
)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_hadolint_finds_nothing(dockerfile):
    result = run_tool("hadolint", "--config", ".hadolint.yaml", str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_shellcheck_finds_nothing(script):
    result = run_tool("shellcheck", "--external-sources", str(script))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linters_do_report_problems():
    # A bad Dockerfile and a bad script, so a silent linter cannot pass the tests above.
    bad = run_tool("hadolint", "-", source="FROM python\nRUN cd /tmp\n")
    assert bad.returncode != 0 and "DL3006" in bad.stdout
    bad = run_tool("shellcheck", "-", source="#!/bin/bash\necho $1\n")
    assert bad.returncode != 0 and "SC2086" in bad.stdout
