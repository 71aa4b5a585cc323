"""The committed Pod against every control of the Pod Security Standards, "baseline" and "restricted"
(kubernetes.io/docs/concepts/security/pod-security-standards); the API server has the last word, in the k3s
CI job's namespace that enforces "restricted". Baseline: the Pod sets no field a control restricts, but for
Capabilities and Seccomp, held to their stricter restricted versions, and HostPath Volumes, to the
restricted volume types. Restricted: the volume types, and each container's securityContext.
"""

from fnmatch import fnmatchcase

import pytest

from k8s.manifests import container, load

POD = load()["Deployment"]["spec"]["template"]
CONTAINERS = [c for kind in ("initContainers", "containers") for c in POD["spec"].get(kind, [])]

# Each baseline control's restricted fields, as globs over paths without list indices. "spec.*securityContext"
# is the Pod's and every container's; httpGet and tcpSocket occur only in probes and lifecycle hooks.
BASELINE = {
    "HostProcess": ["spec.*securityContext.windowsOptions.hostProcess"],
    "Host Namespaces": ["spec.hostNetwork", "spec.hostPID", "spec.hostIPC"],
    "Privileged Containers": ["spec.*securityContext.privileged"],
    "Host Ports": ["spec.*.ports.hostPort"],
    "Host Probes / Lifecycle Hooks": ["spec.*.httpGet.host", "spec.*.tcpSocket.host"],
    "AppArmor": ["spec.*securityContext.appArmorProfile.*", "metadata.annotations.container.apparmor.*"],
    "SELinux": ["spec.*securityContext.seLinuxOptions.*"],
    "/proc Mount Type": ["spec.*securityContext.procMount"],
    "Sysctls": ["spec.securityContext.sysctls.*"],
}
# fmt: off
VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                "projected", "secret"}
# fmt: on


def set_fields(node, path: str) -> set[str]:
    """The paths of the fields under node that hold a value (not false, 0 or empty), list indices left out."""
    if isinstance(node, dict):
        return set().union(*(set_fields(value, f"{path}.{key}") for key, value in node.items()))
    if isinstance(node, list):
        return set().union(*(set_fields(item, path) for item in node))
    return {path} if node else set()


@pytest.mark.parametrize("restricted_fields", BASELINE.values(), ids=BASELINE.keys())
def test_the_pod_sets_no_field_of_the_baseline_control(restricted_fields):
    fields = set_fields(POD["metadata"], "metadata") | set_fields(POD["spec"], "spec")
    assert {field for field in fields for glob in restricted_fields if fnmatchcase(field, glob)} == set()


def test_every_volume_is_of_a_restricted_type_so_none_is_a_host_path():
    types = {volume["name"]: set(volume) - {"name"} for volume in POD["spec"].get("volumes", [])}
    assert {name: kind for name, kind in types.items() if not kind <= VOLUME_TYPES} == {}


def broken_restricted_controls(spec: dict) -> set[str]:
    """The restricted controls a container of the committed Pod breaks, its settings read over the Pod's."""
    pod, own = POD["spec"].get("securityContext", {}), spec.get("securityContext", {})
    caps = own.get("capabilities", {})
    non_root = {pod.get("runAsNonRoot"), own.get("runAsNonRoot")}  # true on either, false on neither
    # A seccomp profile on the Pod or on the container, and each one set is confined.
    seccomp = {context.get("seccompProfile", {}).get("type") for context in (pod, own)} - {None}
    met = {
        "Privilege Escalation": own.get("allowPrivilegeEscalation") is False,
        "Running as Non-root": True in non_root and False not in non_root,
        "Running as Non-root user": 0 not in {pod.get("runAsUser"), own.get("runAsUser")},
        "Seccomp": bool(seccomp) and seccomp <= {"RuntimeDefault", "Localhost"},
        "Capabilities": "ALL" in caps.get("drop", []) and set(caps.get("add", [])) <= {"NET_BIND_SERVICE"},
    }
    return {control for control, is_met in met.items() if not is_met}


@pytest.mark.parametrize("spec", CONTAINERS, ids=lambda spec: spec["name"])
def test_the_container_meets_every_restricted_control(spec):
    assert broken_restricted_controls(spec) == set()


def test_db_as_the_mysql_image_runs_by_default_breaks_the_non_root_and_capabilities_controls():
    # The control case: db before the hardening, as root (the image's default user) with the five
    # capabilities its entrypoint's chown and its switch to the mysql user need.
    db = container(load(), "db")
    for field in ("runAsNonRoot", "runAsUser", "runAsGroup"):
        del db["securityContext"][field]
    db["securityContext"]["capabilities"]["add"] = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]
    assert broken_restricted_controls(db) == {"Running as Non-root", "Capabilities"}
