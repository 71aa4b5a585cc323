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


def python_3_10(folder: Path) -> Path:
    """TEST DOUBLE of a Python 3.10 interpreter: answers the version query and the version checks, has
    ensurepip, and fails anything else (creating a virtualenv)."""
    python = folder / "python3.10"
    python.write_text(
        '#!/bin/sh\ncase "$*" in *print*) echo 3.10 ;; *"(3, 10)"*|*ensurepip*) ;; *) exit 1 ;; esac\n'
    )
    python.chmod(0o755)
    return python


def bootstrap_with(python: Path, mode: str, venv: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/bootstrap.sh", mode],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "PYTHON": str(python), "VENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_older_python_is_refused_with_the_version_named(tmp_path):
    result = bootstrap_with(python_3_10(tmp_path), "run", tmp_path / "venv")
    assert result.returncode == 1
    assert "is Python 3.10; the User API needs Python 3.11 or newer" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_make_exams_checker_takes_the_python_3_10_of_ubuntu_22_04(tmp_path):
    result = bootstrap_with(python_3_10(tmp_path), "exam", tmp_path / "venv")
    assert "needs Python" not in result.stderr
    assert f"creating {tmp_path / 'venv' / 'exam'}" in result.stderr  # past the check; the double has no venv
