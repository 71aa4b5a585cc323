"""The project's pinned command-line tools (linters, validators), run from its virtualenv."""

import subprocess
import sys
from pathlib import Path

from devstack import ROOT

BIN = Path(sys.executable).parent


def run_tool(tool: str | Path, *args: str, source: str | None = None, **popen) -> subprocess.CompletedProcess:
    """Run a tool (a name in this virtualenv, or a path) in the checkout; `source` is its standard input."""
    return subprocess.run(
        [str(BIN / tool), *args], input=source, cwd=ROOT, capture_output=True, text=True, timeout=300, **popen
    )
