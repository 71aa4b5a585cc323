"""scripts/bootstrap.sh: it names what to install when it cannot install it, and refuses an old Python."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from devstack import ROOT


def test_without_root_it_names_the_missing_packages_and_fails():
    if os.geteuid() != 0:
        pytest.skip("runs bootstrap as the user nobody, which needs root (CI runs as root)")
    # As nobody, with a PATH that holds bash and coreutils only (no compiler, no pkg-config, no client).
    with tempfile.TemporaryDirectory() as scratch:
        bin_dir = Path(scratch)
        bin_dir.chmod(0o755)  # readable by nobody
        result = run_as_nobody(bin_dir)
    assert result.returncode == 1
    assert "bootstrap: error: missing system packages:" in result.stderr
    for package in ("build-essential", "pkg-config", "mariadb-client"):
        assert package in result.stderr
    assert "apt-get install -y" in result.stderr


def run_as_nobody(bin_dir: Path) -> subprocess.CompletedProcess:
    for tool in ("bash", "cat", "sort", "dirname", "sha256sum", "printf"):
        (bin_dir / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    return subprocess.run(
        [str(bin_dir / "bash"), "scripts/bootstrap.sh"],
        cwd=ROOT,
        env={"PATH": str(bin_dir)},
        user="nobody",
        group="nogroup",
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_older_python_is_refused_with_the_version_named(tmp_path):
    # TEST DOUBLE of a Python 3.10 interpreter: answers the version query, fails the >= 3.11 check.
    old_python = tmp_path / "python3.10"
    old_python.write_text('#!/bin/sh\ncase "$2" in *print*) echo 3.10 ;; *) exit 1 ;; esac\n')
    old_python.chmod(0o755)
    result = subprocess.run(
        ["bash", "scripts/bootstrap.sh", "run"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "PYTHON": str(old_python), "VENV": str(tmp_path / "venv")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "is Python 3.10; the User API needs Python 3.11 or newer" in result.stderr
    assert not (tmp_path / "venv").exists()
