"""The test side of the TEST DOUBLES in this folder: a cluster state for the kubectl double (and a ready-made
kind cluster), an environment that puts the doubles first on PATH, and what the doubles recorded."""

import json
import os
import subprocess
import sys
from pathlib import Path

from devstack import ROOT

DOUBLES = Path(__file__).resolve().parent
# deploy.sh's own settings (its --help lists them). The tests pass "" for each one they leave unset, since an
# empty value is an unset one for the script, so nothing leaks in from the environment running them.
DEPLOY_SETTINGS = (
    "CLUSTER",
    "REGISTRY",
    "NAMESPACE",
    "MYSQL_PASSWORD",
    "CONTAINER_ENGINE",
    "BUILD_FLAGS",
    "ROLLOUT_TIMEOUT",
    "KUBECTL_TIMEOUT",
    "INGRESS_CLASS_WAIT",
)
PODS = [{"name": f"api-mysql-7c9d-{n}", "ip": f"10.244.0.{10 + n}", "ready": True} for n in range(3)]
KIND_NODES = [{"name": "demo-control-plane", "provider_id": "kind://docker/demo/demo-control-plane"}]


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
        """Run a script against the doubles, with its evidence and temporary files in this cluster's folder;
        `path` replaces PATH (to leave tools out)."""
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


def kind_cluster(workdir: Path, **state) -> DoubledCluster:
    """A kind cluster named demo with Traefik's default IngressClass and three ready Pods; `state` adds to or
    overrides that."""
    return DoubledCluster(
        workdir,
        **{
            "pods": PODS,
            "rollout_ok": True,
            "ingress_address": "",
            "nodes": KIND_NODES,
            "ingress_classes": [{"name": "traefik", "default": True}],
            **state,
        },
    )
