"""The committed Deployment run as real pods by `podman kube play`, and its probes run as declared.

What the test changes, in a copy, never in the committed file:
- the images: the locally built API image and the MySQL stand-in (nothing can be pulled here);
- `ports` are dropped: podman 4.3 publishes every containerPort on the host, so a second replica could
  not bind. The declared ports are still used to resolve the probes' named ports.
The Secret becomes a podman secret: podman 4.3 cannot read one made by `kube play` of a Secret
manifest, so it is created as JSON mapping each key to its base64 value, which it can.
"""

import base64
import copy
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from k8s.manifests import Manifests, container, resolve_port
from support import podman
from support.podman import API_IMAGE, MYSQL_STANDIN

IMAGE_FOR = {"db": MYSQL_STANDIN, "api": API_IMAGE}
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


@dataclass
class Pod:
    name: str
    ip: str

    def container(self, name: str) -> str:
        return f"{self.name}-{name}"


def secret_values(manifests: Manifests) -> dict[str, str]:
    secret = manifests["Secret"]
    values = dict(secret.get("stringData", {}))
    values.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
    return values


def playable_deployment(manifests: Manifests) -> dict:
    deployment = copy.deepcopy(manifests["Deployment"])
    for spec in deployment["spec"]["template"]["spec"]["containers"]:
        spec["image"] = IMAGE_FOR[spec["name"]]
        spec.pop("ports", None)
    return deployment


class PlayedDeployment:
    """podman kube play of the Deployment; down() removes the pods and the secret again."""

    def __init__(self, manifests: Manifests):
        self.manifests = manifests
        self._workdir = Path(tempfile.mkdtemp(prefix="kube-play-"))
        self._file = self._workdir / "deployment.yml"
        self.secret_name = manifests["Secret"]["metadata"]["name"]

    def up(self) -> list[Pod]:
        # Pods left by an interrupted earlier run would make `kube play` refuse the names.
        name = self.manifests["Deployment"]["metadata"]["name"]
        leftovers = podman.podman("pod", "ps", "-q", "--filter", f"name={name}").stdout.split()
        if leftovers:
            podman.podman("pod", "rm", "-f", *leftovers, timeout=120)
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in secret_values(self.manifests).items()}
        podman.podman("secret", "rm", self.secret_name, check=False)
        podman.podman("secret", "create", self.secret_name, "-", input=json.dumps(encoded))
        self._file.write_text(yaml.safe_dump(playable_deployment(self.manifests)))
        podman.podman("kube", "play", str(self._file), timeout=300)
        return self.pods()

    def pods(self) -> list[Pod]:
        name = self.manifests["Deployment"]["metadata"]["name"]
        listed = json.loads(podman.podman("pod", "ps", "--format", "json", "--filter", f"name={name}").stdout)
        pods = []
        for entry in sorted(listed, key=lambda p: p["Name"]):
            infra = json.loads(podman.podman("inspect", entry["InfraId"]).stdout)[0]
            networks = infra["NetworkSettings"]["Networks"]
            pods.append(Pod(entry["Name"], next(iter(networks.values()))["IPAddress"]))
        return pods

    def down(self) -> None:
        if self._file.exists():
            podman.podman("kube", "down", str(self._file), check=False, timeout=120)
        podman.podman("secret", "rm", self.secret_name, check=False)


def run_probe(pod: Pod, manifests: Manifests, container_name: str, probe_kind: str) -> bool:
    """One attempt of a declared probe, from inside the pod to the pod's IP, as the kubelet would."""
    spec = container(manifests, container_name)
    probe = spec[probe_kind]
    timeout = probe.get("timeoutSeconds", 1)
    if "httpGet" in probe:
        port = resolve_port(spec, probe["httpGet"]["port"])
        check = (
            "import urllib.request; "
            f"urllib.request.urlopen('http://{pod.ip}:{port}{probe['httpGet']['path']}', timeout={timeout})"
        )
    else:
        port = resolve_port(spec, probe["tcpSocket"]["port"])
        check = f"import socket; socket.create_connection(('{pod.ip}', {port}), timeout={timeout}).close()"
    # The api container has Python; the probe leaves from the pod's network namespace either way.
    result = podman.podman(
        "exec", pod.container("api"), "python3", "-c", check, check=False, timeout=timeout + 10
    )
    return result.returncode == 0


def wait_for_probe(
    pod: Pod, manifests: Manifests, container_name: str, probe_kind: str, passing: bool = True
) -> float:
    """Repeat a probe at its declared period until it passes (or fails); return the seconds it took."""
    probe = container(manifests, container_name)[probe_kind]
    period = probe.get("periodSeconds", 10)
    budget = period * probe.get("failureThreshold", 3) + 30
    started = time.monotonic()
    while run_probe(pod, manifests, container_name, probe_kind) != passing:
        if time.monotonic() - started > budget:
            state = "pass" if passing else "fail"
            raise AssertionError(
                f"{pod.name} {container_name} {probe_kind} did not {state} within {budget} s"
            )
        time.sleep(min(period, 1))
    return time.monotonic() - started
