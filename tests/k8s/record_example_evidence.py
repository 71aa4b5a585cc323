"""Records doc/example-evidence/: what scripts/capture-proof.sh writes, run against the test stand-ins.

    .venv/bin/pytest tests/k8s/record_example_evidence.py

pytest runs a file named on its command line whatever its name, and never collects this one on its own
(it is not a test_*.py), so the committed example changes only when someone records it again.

What answers capture-proof.sh here:
- kubectl: the TEST DOUBLE tests/doubles/kubectl, told the names, IPs and readiness of the podman pods
  below, with the ingress stand-in's address as the Ingress's address;
- HTTP, for real: curl reaches the ingress stand-in (nginx routed from the committed Ingress and Service),
  which proxies to the api containers of the Deployment's three pods, played by podman from the committed
  manifest, each with the MySQL stand-in (MariaDB) as its db container.
tests/scripts/test_example_evidence.py keeps the folder in step with what capture-proof.sh writes today.
"""

import shutil
from pathlib import Path

from devstack import ROOT
from devstack.ports import free_port
from doubles.cluster import DoubledCluster
from k8s.ingress import IngressStandIn
from k8s.pods import Pod
from support.http import wait_for_status

EXAMPLE = ROOT / "doc" / "example-evidence"
RECORD_COMMAND = ".venv/bin/pytest tests/k8s/record_example_evidence.py"
WRITTEN_BY_HAND = {"README.md"}  # every other file of the example is capture-proof.sh's


def capture_proof(workdir: Path, pods: list[dict], ingress_url: str) -> Path:
    """Run capture-proof.sh against the kubectl double, whose Ingress has ingress_url's address, and
    return the evidence folder of the run, which must have passed."""
    cluster = DoubledCluster(
        workdir, pods=pods, rollout_ok=True, ingress_address=ingress_url.removeprefix("http://")
    )
    result = cluster.run(ROOT / "scripts" / "capture-proof.sh")
    assert result.returncode == 0, result.stderr
    (folder,) = (workdir / "evidence").iterdir()
    return folder


def replace_example(folder: Path) -> None:
    EXAMPLE.mkdir(exist_ok=True)
    for old in EXAMPLE.iterdir():
        if old.name not in WRITTEN_BY_HAND:
            old.unlink()
    for new in folder.iterdir():
        shutil.copy2(new, EXAMPLE / new.name)


def test_record_example_evidence(played: list[Pod], manifests, tmp_path):
    ingress = IngressStandIn(manifests, played, free_port()).start()
    try:
        wait_for_status(f"{ingress.url}/status")
        pods = [{"name": pod.name, "ip": pod.ip, "ready": pod in ingress.ready} for pod in played]
        folder = capture_proof(tmp_path, pods, ingress.url)
    finally:
        ingress.stop()
    replace_example(folder)
