"""The committed Deployment run as real pods by `podman kube play`, and its probes run as declared.

What the test changes, in a copy, never in the committed file:
- the images: the locally built API image and the MySQL stand-in (nothing can be pulled here);
- `ports` are dropped: podman 4.3 publishes every containerPort on the host, so a second replica could
  not bind. The declared ports are still used to resolve the probes' named ports;
- the names: every object gets this run's id (pods, containers, volumes, the secret), so runs on the
  same machine never meet, and what a run leaves behind can be looked up by name;
- each replica is a one-replica Deployment of its own with its own volume names: podman turns an
  emptyDir into a named volume called after the volume, shared by every pod that names it (three MySQL
  servers on one data directory), where Kubernetes gives every Pod its own;
- `fsGroup`, which podman 4.3 ignores, is done here as a kubelet does it: the test makes each volume
  beforehand, group-owned by fsGroup (see kubelet_volume), and gives every container fsGroup as a
  supplementary group (pod `supplementalGroups`, which podman honours).
The Secret becomes a podman secret: podman 4.3 cannot read one made by `kube play` of a Secret
manifest, so it is created as JSON mapping each key to its base64 value, which it can.
"""

import base64
import copy
import json
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from devstack.wait import wait_until
from k8s.manifests import Manifests, container, resolve_port
from support import podman
from support.podman import API_IMAGE, MYSQL_STANDIN

IMAGE_FOR = {"db": MYSQL_STANDIN, "api": API_IMAGE}
# The network `kube play` puts pods on: the stand-in for the cluster's flat Pod network.
KUBE_NETWORK = "podman-default-kube-network"


@dataclass(frozen=True)
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


class PlayedDeployment:
    """The Deployment's replicas as podman pods of this run; down() removes everything it made."""

    def __init__(self, manifests: Manifests):
        self.manifests = manifests
        run = secrets.token_hex(3)
        self.prefix = f"{manifests['Deployment']['metadata']['name']}-{run}"
        self.secret_name = f"{manifests['Secret']['metadata']['name']}-{run}"
        self.replicas = [self._replica(index) for index in range(manifests["Deployment"]["spec"]["replicas"])]
        self._file = Path(tempfile.mkdtemp(prefix="kube-play-")) / "deployment.yml"

    def _replica(self, index: int) -> dict:
        deployment = copy.deepcopy(self.manifests["Deployment"])
        deployment["metadata"]["name"] = f"{self.prefix}-{index}"
        deployment["spec"]["replicas"] = 1
        pod = deployment["spec"]["template"]["spec"]
        renamed = {volume["name"]: f"{self.prefix}-{index}-{volume['name']}" for volume in pod["volumes"]}
        for volume in pod["volumes"]:
            volume["name"] = renamed[volume["name"]]
        context = pod.get("securityContext", {})
        if "fsGroup" in context:
            context["supplementalGroups"] = [*context.get("supplementalGroups", []), context["fsGroup"]]
        for spec in pod["containers"]:
            spec["image"] = IMAGE_FOR[spec["name"]]
            spec.pop("ports", None)
            for mount in spec.get("volumeMounts", []):
                mount["name"] = renamed[mount["name"]]
            for entry in spec.get("env", []):
                if "secretKeyRef" in entry.get("valueFrom", {}):
                    entry["valueFrom"]["secretKeyRef"]["name"] = self.secret_name
        return deployment

    def up(self) -> list[Pod]:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in secret_values(self.manifests).items()}
        podman.podman("secret", "create", self.secret_name, "-", input=json.dumps(encoded))
        for replica in self.replicas:
            pod = replica["spec"]["template"]["spec"]
            for volume in pod["volumes"]:
                kubelet_volume(volume["name"], pod.get("securityContext", {}).get("fsGroup"))
        self._file.write_text(yaml.safe_dump_all(self.replicas))
        podman.podman("kube", "play", str(self._file), timeout=300)
        return self.pods()

    def pods(self) -> list[Pod]:
        listed = json.loads(
            podman.podman("pod", "ps", "--format", "json", "--filter", f"name={self.prefix}-").stdout
        )
        pods = []
        for entry in sorted(listed, key=lambda p: p["Name"]):
            infra = json.loads(podman.podman("inspect", entry["InfraId"]).stdout)[0]
            pods.append(Pod(entry["Name"], infra["NetworkSettings"]["Networks"][KUBE_NETWORK]["IPAddress"]))
        return pods

    def down(self) -> None:
        if self._file.exists():
            podman.podman("kube", "down", str(self._file), check=False, timeout=120)
        podman.podman("secret", "rm", self.secret_name, check=False)
        # `kube down` removes a pod's volumes only when no other container uses them any more.
        volumes = podman.podman("volume", "ls", "-q", "--filter", f"name={self.prefix}-").stdout.split()
        if volumes:
            podman.podman("volume", "rm", "-f", *volumes, check=False)
        shutil.rmtree(self._file.parent, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """What this run made that still exists: pods, containers, volumes, the secret."""
        mine = ("--filter", f"name={self.prefix}-")
        found = podman.podman("pod", "ps", "-q", *mine).stdout.split()
        found += podman.podman("ps", "-aq", *mine).stdout.split()
        found += podman.podman("volume", "ls", "-q", *mine).stdout.split()
        secrets_left = podman.podman("secret", "ls", "--format", "{{.Name}}").stdout.split()
        return found + [name for name in secrets_left if name == self.secret_name]


def kubelet_volume(name: str, fs_group: int | None) -> None:
    """A volume as the kubelet would hand it to a Pod with this fsGroup, made before `kube play` uses it.

    It starts as root's with mode 0755, as a PersistentVolume usually does (an emptyDir starts 0777,
    writable by anyone, which would hide whether fsGroup works). With an fsGroup the kubelet then makes
    it group-owned by fsGroup, group-writable and set-group-ID (new files inherit the group); only that
    lets a non-root container write it. Made with podman's uid/gid options, so podman leaves the owner
    alone: by itself podman would give it the owner and mode of the image's directory (Docker's copy-up),
    reading them on the host for a path under a symlink such as /var/run.
    """
    podman.podman("volume", "create", "--opt", "nocopy", "--opt", f"o=uid=0,gid={fs_group or 0}", name)
    if fs_group is not None:
        mountpoint = podman.podman("volume", "inspect", "--format", "{{.Mountpoint}}", name).stdout
        Path(mountpoint.strip()).chmod(0o2775)


def run_probe(pod: Pod, manifests: Manifests, container_name: str, probe_kind: str) -> bool:
    """One attempt of a declared probe, as the kubelet makes it: a command run inside the container, or
    an HTTP GET to the pod's IP (sent from the api container, which has Python, in the pod's network)."""
    spec = container(manifests, container_name)
    probe = spec[probe_kind]
    timeout = probe.get("timeoutSeconds", 1)
    if "exec" in probe:
        command = [pod.container(container_name), *probe["exec"]["command"]]
    elif "httpGet" in probe:
        port = resolve_port(spec, probe["httpGet"]["port"])
        url = f"http://{pod.ip}:{port}{probe['httpGet']['path']}"
        fetch = f"import urllib.request; urllib.request.urlopen({url!r}, timeout={timeout})"
        command = [pod.container("api"), "python3", "-c", fetch]
    else:
        raise AssertionError(f"{container_name} {probe_kind}: only exec and httpGet probes are run here")
    return podman.podman("exec", *command, check=False, timeout=timeout + 10).returncode == 0


def wait_for_probe(
    pod: Pod, manifests: Manifests, container_name: str, probe_kind: str, passing: bool = True
) -> float:
    """Repeat a probe until it passes (or fails); return the seconds it took."""
    probe = container(manifests, container_name)[probe_kind]
    period = probe.get("periodSeconds", 10)
    started = time.monotonic()
    wait_until(
        lambda: run_probe(pod, manifests, container_name, probe_kind) == passing,
        period * probe.get("failureThreshold", 3) + 30,
        f"{pod.name} {container_name} {probe_kind} {'passes' if passing else 'fails'}",
        interval=min(period, 1),
    )
    return time.monotonic() - started
