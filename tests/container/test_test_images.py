"""The test images themselves: bootstrap's head start builds them the way the `images` fixture does, and
a warm run skips a build only while nothing it is built from has changed."""

import os
import shutil
import subprocess
import sys

import pytest

from devstack import ROOT
from support import podman

pytestmark = pytest.mark.container


def test_the_head_start_that_bootstrap_runs_leaves_every_image_current(images):
    # As scripts/bootstrap.sh starts it (there with the system python3, which needs nothing installed).
    result = subprocess.run(
        [sys.executable, "-m", "support.podman"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": "scripts:tests"},
        capture_output=True,
        text=True,
        timeout=540,  # inside pytest-timeout's 600 s
    )
    assert result.returncode == 0, result.stderr
    builds = [line.split()[1] for line in result.stdout.splitlines()]
    assert builds == ["build_python_base", "build_api_image", "build_mysql_standin", "build_ingress_standin"]
    assert podman.built_from(podman.API_IMAGE) == podman.build_inputs_digest(ROOT / "api", ())


def test_any_change_to_what_an_image_is_built_from_changes_its_digest(images, tmp_path):
    context = tmp_path / "api"
    shutil.copytree(ROOT / "api", context, ignore=shutil.ignore_patterns("__pycache__"))
    original = podman.build_inputs_digest(context, ())
    (context / "__pycache__").mkdir()
    (context / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"cache")
    assert podman.build_inputs_digest(context, ()) == original  # Python's caches are not inputs
    assert podman.build_inputs_digest(context, ("--build-arg", "X=1")) != original
    (context / "main.py").chmod(0o755)
    changed_mode = podman.build_inputs_digest(context, ())
    assert changed_mode != original
    with (context / "database.py").open("a") as module:
        module.write("\n")
    assert podman.build_inputs_digest(context, ()) not in (original, changed_mode)
