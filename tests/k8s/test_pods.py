"""The committed Deployment as three real pods (podman kube play), each with db and api side by side."""

import pytest

from k8s.pods import PROBES, run_probe, secret_values, wait_for_probe
from support import podman

pytestmark = pytest.mark.container


def exec_in(pod, name: str, *command: str):
    return podman.podman("exec", pod.container(name), *command, check=False)


def test_three_pods_with_two_running_containers_each(played, manifests):
    _, pods = played
    assert len(pods) == manifests["Deployment"]["spec"]["replicas"] == 3
    for pod in pods:
        names = [pod.container("db"), pod.container("api")]
        states = podman.podman("inspect", *names, "--format", "{{.State.Status}}").stdout.split()
        assert states == ["running", "running"], pod.name


def test_every_api_reaches_its_own_mysql_on_loopback_with_the_secret(played, manifests):
    _, pods = played
    password = secret_values(manifests)["MYSQL_PASSWORD"]
    # The driver, connected with exactly the settings the Deployment gave the API container.
    query = (
        "import os, MySQLdb; e = os.environ;"
        " c = MySQLdb.connect(host=e['MYSQL_HOST'], port=int(e['MYSQL_PORT']), user=e['MYSQL_USER'],"
        " password=e['MYSQL_PASSWORD'], database=e['MYSQL_DATABASE']);"
        " cur = c.cursor(); cur.execute('SELECT COUNT(*) FROM Users'); print(cur.fetchone()[0])"
    )
    for pod in pods:
        assert exec_in(pod, "api", "printenv", "MYSQL_HOST").stdout.strip() == "127.0.0.1"
        assert exec_in(pod, "api", "printenv", "MYSQL_PASSWORD").stdout.strip() == password
        assert exec_in(pod, "db", "printenv", "MYSQL_ROOT_PASSWORD").stdout.strip() == password
        assert exec_in(pod, "api", "python3", "-c", query).stdout.strip() == "100"
        fetch = f"import urllib.request; print(urllib.request.urlopen('http://{pod.ip}:8000/users/1').read().decode())"
        assert '"user_id":1' in exec_in(pod, "api", "python3", "-c", fetch).stdout


def test_every_declared_probe_passes(played, manifests):
    _, pods = played
    for pod in pods:
        for name in ("db", "api"):
            for probe in PROBES:
                assert run_probe(pod, manifests, name, probe), f"{pod.name} {name} {probe}"


def capability_set(pod, name: str, field: str) -> int:
    return int(exec_in(pod, name, "grep", field, "/proc/1/status").stdout.split()[-1], 16)


def test_the_security_contexts_took_effect(played):
    _, pods = played
    pod = pods[0]
    assert exec_in(pod, "api", "id", "-u").stdout.strip() == "10001"
    assert exec_in(pod, "api", "touch", "/app/written").returncode != 0  # read-only root
    assert exec_in(pod, "api", "touch", "/tmp/written").returncode == 0  # the emptyDir
    assert capability_set(pod, "api", "CapBnd") == 0
    # db: only CHOWN(0), DAC_OVERRIDE(1), FOWNER(3), SETGID(6), SETUID(7), and MySQL still started.
    assert capability_set(pod, "db", "CapBnd") == 0b11001011
    assert exec_in(pod, "db", "grep", "NoNewPrivs", "/proc/1/status").stdout.split()[-1] == "1"


def test_mysql_stopped_in_one_pod_fails_its_readiness_only(played, manifests, figure):
    _, pods = played
    broken, healthy = pods[0], pods[1:]
    podman.podman("stop", "--time", "20", broken.container("db"))
    try:
        failed_after = wait_for_probe(broken, manifests, "api", "readinessProbe", passing=False)
        assert run_probe(broken, manifests, "api", "livenessProbe")  # the process is fine: no restart
        assert not run_probe(broken, manifests, "db", "readinessProbe")
        for pod in healthy:
            assert run_probe(pod, manifests, "api", "readinessProbe")
    finally:
        podman.podman("start", broken.container("db"))
    recovered_after = wait_for_probe(broken, manifests, "api", "readinessProbe")
    assert run_probe(broken, manifests, "api", "livenessProbe")
    figure(
        f"readiness failed {failed_after:.1f} s after MySQL stopped; "
        f"passed again {recovered_after:.1f} s after restart"
    )


def test_teardown_leaves_nothing_behind(played, manifests):
    # Runs last in this module: it takes the module's pods down itself.
    deployment, _ = played
    deployment.down()
    name = manifests["Deployment"]["metadata"]["name"]
    assert podman.podman("pod", "ps", "-q", "--filter", f"name={name}").stdout.strip() == ""
    assert podman.podman("ps", "-aq", "--filter", f"name={name}").stdout.strip() == ""
    assert deployment.secret_name not in podman.podman("secret", "ls", "--format", "{{.Name}}").stdout.split()
