"""The Deployment's Pod against every control of the Pod Security Standards, "baseline" and "restricted"
(kubernetes.io/docs/concepts/security/pod-security-standards), read as the Pod Security Admission
controller reads them: every container, init container and ephemeral container, and the Pod's own
securityContext where the page names it. Each control returns the fields that break it, as
"path = value". The Linux-only relaxations for `spec.os.name: windows` are left out: this Pod runs on Linux.
"""

import copy
from collections.abc import Callable

import pytest

Violations = list[str]
# fmt: off
# Capabilities a baseline container may add; restricted allows NET_BIND_SERVICE only.
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
    "secret",
}
# fmt: on
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# The allowed seccomp and AppArmor profile types.
CONFINED_PROFILES = {"RuntimeDefault", "Localhost"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def containers(spec: dict) -> list[tuple[str, dict]]:
    """Every container the controls cover, with its path in the Pod spec."""
    return [
        (f"spec.{kind}[{entry['name']}]", entry)
        for kind in ("initContainers", "containers", "ephemeralContainers")
        for entry in spec.get(kind, [])
    ]


def container_contexts(spec: dict) -> list[tuple[str, dict]]:
    """Each container's securityContext, with its path."""
    return [(f"{path}.securityContext", entry.get("securityContext", {})) for path, entry in containers(spec)]


def security_contexts(spec: dict) -> list[tuple[str, dict]]:
    """The Pod's securityContext, then each container's, with their paths."""
    return [("spec.securityContext", spec.get("securityContext", {})), *container_contexts(spec)]


def where(path: str, value) -> str:
    return f"{path} = {value!r}"


def host_process(template: dict) -> Violations:
    return [
        where(f"{path}.windowsOptions.hostProcess", True)
        for path, context in security_contexts(template["spec"])
        if context.get("windowsOptions", {}).get("hostProcess")
    ]


def host_namespaces(template: dict) -> Violations:
    spec = template["spec"]
    return [
        where(f"spec.{field}", True) for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)
    ]


def privileged(template: dict) -> Violations:
    return [
        where(f"{path}.privileged", True)
        for path, context in container_contexts(template["spec"])
        if context.get("privileged")
    ]


def added_capabilities(template: dict, allowed: set[str]) -> Violations:
    return [
        where(f"{path}.securityContext.capabilities.add", sorted(added))
        for path, entry in containers(template["spec"])
        if (added := set(entry.get("securityContext", {}).get("capabilities", {}).get("add", [])) - allowed)
    ]


def baseline_capabilities(template: dict) -> Violations:
    return added_capabilities(template, BASELINE_CAPABILITIES)


def host_path_volumes(template: dict) -> Violations:
    return [
        where(f"spec.volumes[{volume['name']}].hostPath", volume["hostPath"])
        for volume in template["spec"].get("volumes", [])
        if "hostPath" in volume
    ]


def host_ports(template: dict) -> Violations:
    return [
        where(f"{path}.ports[{port.get('name', port['containerPort'])}].hostPort", port["hostPort"])
        for path, entry in containers(template["spec"])
        for port in entry.get("ports", [])
        if port.get("hostPort", 0) != 0
    ]


def host_probes_and_lifecycle_hooks(template: dict) -> Violations:
    violations = []
    for path, entry in containers(template["spec"]):
        handlers = {kind: entry.get(kind, {}) for kind in ("livenessProbe", "readinessProbe", "startupProbe")}
        handlers.update({f"lifecycle.{hook}": action for hook, action in entry.get("lifecycle", {}).items()})
        for name, handler in handlers.items():
            for action in ("httpGet", "tcpSocket"):
                host = handler.get(action, {}).get("host", "")
                if host != "":
                    violations.append(where(f"{path}.{name}.{action}.host", host))
    return violations


def apparmor(template: dict) -> Violations:
    violations = [
        where(f"{path}.appArmorProfile.type", profile["type"])
        for path, context in security_contexts(template["spec"])
        if (profile := context.get("appArmorProfile")) and profile["type"] not in CONFINED_PROFILES
    ]
    annotations = template.get("metadata", {}).get("annotations", {})
    return violations + [
        where(f"metadata.annotations[{key}]", value)
        for key, value in annotations.items()
        if key.startswith(APPARMOR_ANNOTATION)
        and value != "runtime/default"
        and not value.startswith("localhost/")
    ]


def selinux(template: dict) -> Violations:
    violations = []
    for path, context in security_contexts(template["spec"]):
        options = context.get("seLinuxOptions", {})
        if options.get("type", "") not in SELINUX_TYPES:
            violations.append(where(f"{path}.seLinuxOptions.type", options["type"]))
        violations += [
            where(f"{path}.seLinuxOptions.{field}", options[field])
            for field in ("user", "role")
            if options.get(field, "") != ""
        ]
    return violations


def proc_mount(template: dict) -> Violations:
    return [
        where(f"{path}.procMount", context["procMount"])
        for path, context in container_contexts(template["spec"])
        if context.get("procMount", "Default") != "Default"
    ]


def seccomp_profiles(template: dict) -> list[tuple[str, str | None]]:
    """(path, seccompProfile.type or None) for the Pod and each container."""
    return [
        (f"{path}.seccompProfile.type", context.get("seccompProfile", {}).get("type"))
        for path, context in security_contexts(template["spec"])
    ]


def baseline_seccomp(template: dict) -> Violations:
    return [where(path, kind) for path, kind in seccomp_profiles(template) if kind == "Unconfined"]


def sysctls(template: dict) -> Violations:
    names = [entry["name"] for entry in template["spec"].get("securityContext", {}).get("sysctls", [])]
    return [where("spec.securityContext.sysctls[].name", name) for name in names if name not in SAFE_SYSCTLS]


def volume_types(template: dict) -> Violations:
    return [
        where(f"spec.volumes[{volume['name']}]", sorted(set(volume) - {"name"}))
        for volume in template["spec"].get("volumes", [])
        if not VOLUME_TYPES & set(volume)
    ]


def privilege_escalation(template: dict) -> Violations:
    return [
        where(f"{path}.allowPrivilegeEscalation", context.get("allowPrivilegeEscalation"))
        for path, context in container_contexts(template["spec"])
        if context.get("allowPrivilegeEscalation") is not False
    ]


def running_as_non_root(template: dict) -> Violations:
    # A container may leave runAsNonRoot unset when the Pod sets it to true; false is refused anywhere.
    (pod_path, pod), *per_container = security_contexts(template["spec"])
    violations = [where(f"{pod_path}.runAsNonRoot", False)] if pod.get("runAsNonRoot") is False else []
    return violations + [
        where(f"{path}.runAsNonRoot", context.get("runAsNonRoot"))
        for path, context in per_container
        if context.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True
    ]


def running_as_non_root_user(template: dict) -> Violations:
    return [
        where(f"{path}.runAsUser", 0)
        for path, context in security_contexts(template["spec"])
        if context.get("runAsUser") == 0
    ]


def restricted_seccomp(template: dict) -> Violations:
    # Every container needs RuntimeDefault or Localhost, its own or else the Pod's.
    (pod_path, pod_kind), *per_container = seccomp_profiles(template)
    violations = [where(pod_path, pod_kind)] if pod_kind not in (None, *CONFINED_PROFILES) else []
    return violations + [
        where(path, kind) for path, kind in per_container if (kind or pod_kind) not in CONFINED_PROFILES
    ]


def restricted_capabilities(template: dict) -> Violations:
    not_dropped = [
        where(f"{path}.securityContext.capabilities.drop", drop)
        for path, entry in containers(template["spec"])
        if "ALL" not in (drop := entry.get("securityContext", {}).get("capabilities", {}).get("drop", []))
    ]
    return not_dropped + added_capabilities(template, {"NET_BIND_SERVICE"})


Control = Callable[[dict], Violations]
BASELINE: dict[str, Control] = {
    "HostProcess": host_process,
    "Host Namespaces": host_namespaces,
    "Privileged Containers": privileged,
    "Capabilities": baseline_capabilities,
    "HostPath Volumes": host_path_volumes,
    "Host Ports": host_ports,
    "Host Probes / Lifecycle Hooks": host_probes_and_lifecycle_hooks,
    "AppArmor": apparmor,
    "SELinux": selinux,
    "/proc Mount Type": proc_mount,
    "Seccomp": baseline_seccomp,
    "Sysctls": sysctls,
}
RESTRICTED: dict[str, Control] = {
    **BASELINE,
    "Volume Types": volume_types,
    "Privilege Escalation": privilege_escalation,
    "Running as Non-root": running_as_non_root,
    "Running as Non-root user": running_as_non_root_user,
    "Seccomp (restricted)": restricted_seccomp,
    "Capabilities (restricted)": restricted_capabilities,
}


def broken_controls(template: dict, profile: dict[str, Control]) -> dict[str, Violations]:
    return {name: found for name, control in profile.items() if (found := control(template))}


@pytest.fixture
def template(manifests) -> dict:
    """A copy of the committed Deployment's Pod template, for a test to change."""
    return copy.deepcopy(manifests["Deployment"]["spec"]["template"])


def test_the_pod_meets_every_control_of_the_restricted_profile(template):
    assert broken_controls(template, RESTRICTED) == {}


def container_named(template: dict, name: str) -> dict:
    return next(entry for entry in template["spec"]["containers"] if entry["name"] == name)


def db_context(template: dict) -> dict:
    return container_named(template, "db")["securityContext"]


def as_the_official_image_runs_by_default(template: dict) -> None:
    """db as docker-library/mysql runs unless told otherwise: as root, which needs five capabilities
    for the entrypoint's chown and its switch to the mysql user."""
    context = db_context(template)
    for field in ("runAsNonRoot", "runAsUser", "runAsGroup"):
        del context[field]
    context["capabilities"]["add"] = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]


def test_the_official_images_default_root_start_is_baseline_but_not_restricted(template):
    as_the_official_image_runs_by_default(template)
    assert broken_controls(template, BASELINE) == {}
    assert set(broken_controls(template, RESTRICTED)) == {"Running as Non-root", "Capabilities (restricted)"}


def replace_volume(template: dict, name: str, source: dict) -> None:
    (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == name]
    volume.clear()
    volume.update({"name": name, **source})


# Each unhardened variant changes one field of the committed Pod, and breaks the controls named: the
# control that reads the field, and where the page has one, its stricter restricted twin.
UNHARDENED = {
    "a Windows host process": (
        lambda t: t["spec"]["securityContext"].update(windowsOptions={"hostProcess": True}),
        {"HostProcess"},
    ),
    "the host's network": (lambda t: t["spec"].update(hostNetwork=True), {"Host Namespaces"}),
    "a privileged db": (lambda t: db_context(t).update(privileged=True), {"Privileged Containers"}),
    "SYS_ADMIN added": (
        lambda t: db_context(t)["capabilities"].update(add=["SYS_ADMIN"]),
        {"Capabilities", "Capabilities (restricted)"},
    ),
    "CHOWN added": (
        lambda t: db_context(t)["capabilities"].update(add=["CHOWN"]),
        {"Capabilities (restricted)"},
    ),
    "ALL not dropped": (
        lambda t: db_context(t)["capabilities"].update(drop=["NET_RAW"]),
        {"Capabilities (restricted)"},
    ),
    "the data on a hostPath": (
        lambda t: replace_volume(t, "mysql-data", {"hostPath": {"path": "/srv/mysql"}}),
        {"HostPath Volumes", "Volume Types"},
    ),
    "the data on NFS": (
        lambda t: replace_volume(t, "mysql-data", {"nfs": {"server": "nfs.example", "path": "/mysql"}}),
        {"Volume Types"},
    ),
    "a hostPort": (
        lambda t: container_named(t, "api")["ports"][0].update(hostPort=8000),
        {"Host Ports"},
    ),
    "a probe sent to another host": (
        lambda t: container_named(t, "api")["readinessProbe"]["httpGet"].update(host="10.0.0.1"),
        {"Host Probes / Lifecycle Hooks"},
    ),
    "AppArmor off": (
        lambda t: db_context(t).update(appArmorProfile={"type": "Unconfined"}),
        {"AppArmor"},
    ),
    "AppArmor off by annotation": (
        lambda t: t["metadata"].update(annotations={f"{APPARMOR_ANNOTATION}db": "unconfined"}),
        {"AppArmor"},
    ),
    "a privileged SELinux type": (
        lambda t: t["spec"]["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
        {"SELinux"},
    ),
    "an unmasked /proc": (lambda t: db_context(t).update(procMount="Unmasked"), {"/proc Mount Type"}),
    "seccomp off for db": (
        lambda t: db_context(t).update(seccompProfile={"type": "Unconfined"}),
        {"Seccomp", "Seccomp (restricted)"},
    ),
    "no seccomp profile": (
        lambda t: t["spec"]["securityContext"].pop("seccompProfile"),
        {"Seccomp (restricted)"},
    ),
    "an unsafe sysctl": (
        lambda t: t["spec"]["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]),
        {"Sysctls"},
    ),
    "privilege escalation left to the default": (
        lambda t: db_context(t).pop("allowPrivilegeEscalation"),
        {"Privilege Escalation"},
    ),
    "runAsNonRoot left out": (lambda t: db_context(t).pop("runAsNonRoot"), {"Running as Non-root"}),
    "runAsNonRoot false on the Pod": (
        lambda t: t["spec"]["securityContext"].update(runAsNonRoot=False),
        {"Running as Non-root"},
    ),
    "runAsUser 0": (lambda t: db_context(t).update(runAsUser=0), {"Running as Non-root user"}),
}


@pytest.mark.parametrize(("change", "broken"), UNHARDENED.values(), ids=UNHARDENED.keys())
def test_an_unhardened_pod_breaks_the_control_for_what_it_changed(template, change, broken):
    change(template)
    assert set(broken_controls(template, RESTRICTED)) == broken


def test_the_controls_cover_the_whole_profile():
    # Every control of the page has a variant above that breaks it, so none of them can pass vacuously.
    assert set().union(*(broken for _, broken in UNHARDENED.values())) == set(RESTRICTED)
