"""The test side of the TEST DOUBLES in this folder: a cluster state for the kubectl double, an environment
that puts the doubles first on PATH, and what the doubles recorded."""

import json
import os
import subprocess
import sys
from pathlib import Path

from devstack import ROOT

DOUBLES = Path(__file__).resolve().parent


class DoubledCluster:
    """A state file for tests/doubles/kubectl (keys: see its docstring) and the doubles' call log."""

    def __init__(self, workdir: Path, **state):
        self.state_file = workdir / "cluster-state.json"
        self.log = workdir / "doubles.log"
        self.state_file.write_text(json.dumps(state))

    def env(self, **settings: str) -> dict[str, str]:
        """os.environ with the doubles first on PATH, then this venv's python3 (the kubectl double reads
        manifests with its PyYAML), then the real tools."""
        return {
            **os.environ,
            "PATH": os.pathsep.join([str(DOUBLES), str(Path(sys.executable).parent), os.environ["PATH"]]),
            "KUBECTL_DOUBLE_STATE": str(self.state_file),
            "DOUBLES_LOG": str(self.log),
            **settings,
        }

    def run(self, script: Path, *args: str, path: str | None = None, **settings: str):
        """Run a script of this checkout against the doubles, with its evidence and temporary files in
        this cluster's folder; `path` replaces PATH (to leave tools out)."""
        workdir = self.state_file.parent
        (workdir / "tmp").mkdir(exist_ok=True)
        folders = {"EVIDENCE_ROOT": str(workdir / "evidence"), "TMPDIR": str(workdir / "tmp")}
        environment = self.env(**{**folders, **settings})
        if path:
            environment["PATH"] = path
        return subprocess.run(
            [str(script), *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600
        )

    @property
    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def update(self, **changes) -> None:
        self.state_file.write_text(json.dumps({**self.state, **changes}))

    def calls(self, tool: str | None = None) -> list[dict]:
        """The recorded calls ({"tool", "args", ...}), of one tool or of all, in order."""
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [call for call in calls if tool in (None, call["tool"])]

    def events(self, *verbs: str) -> list[tuple[str, str]]:
        """What the cluster did, in order: [("create", "Secret/mysql-secret"), ...]; only `verbs` if given."""
        return [(done, key) for done, key in self.state.get("events", []) if not verbs or done in verbs]
