"""scripts/bootstrap.sh: without root and without the server binaries it names what to install."""

import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_without_root_it_names_the_missing_packages_and_fails():
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
