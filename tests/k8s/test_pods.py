"""The committed Deployment as three real pods (podman kube play), each with db and api side by side."""

import copy
import json
import secrets

import pytest

from devstack.wait import wait_until
from k8s.manifests import PROBES, container
from k8s.pods import KUBE_NETWORK, PlayedDeployment, run_probe, secret_values, wait_for_probe
from support import podman
from support.podman import API_IMAGE

pytestmark = pytest.mark.container


def exec_in(pod, name: str, *command: str):
    return podman.podman("exec", pod.container(name), *command, check=False)


def db_log(pod) -> str:
    log = podman.podman("logs", pod.container("db"))
    return log.stdout + log.stderr


def sql(pod, statement: str) -> str:
    """A statement run by root over the db container's Unix socket, with the password it was given."""
    login = 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mariadb --user=root --batch --skip-column-names -e "$0"'
    result = exec_in(pod, "db", "sh", "-c", login, statement)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_three_pods_with_two_running_containers_each(played, manifests):
    assert len(played) == manifests["Deployment"]["spec"]["replicas"]
    for pod in played:
        names = [pod.container("db"), pod.container("api")]
        states = podman.podman("inspect", *names, "--format", "{{.State.Status}}").stdout.split()
        assert states == ["running", "running"], pod.name


def test_every_api_reaches_its_own_mysql_on_loopback_with_the_secret(played, manifests):
    password = secret_values(manifests)["MYSQL_PASSWORD"]
    # The driver, connected with exactly the settings the Deployment gave the API container.
    query = (
        "import os, MySQLdb; e = os.environ;"
        " c = MySQLdb.connect(host=e['MYSQL_HOST'], port=int(e['MYSQL_PORT']), user=e['MYSQL_USER'],"
        " password=e['MYSQL_PASSWORD'], database=e['MYSQL_DATABASE']);"
        " cur = c.cursor(); cur.execute('SELECT COUNT(*) FROM Users'); print(cur.fetchone()[0])"
    )
    for pod in played:
        assert exec_in(pod, "api", "printenv", "MYSQL_PASSWORD").stdout.strip() == password
        assert exec_in(pod, "db", "printenv", "MYSQL_ROOT_PASSWORD").stdout.strip() == password
        assert exec_in(pod, "api", "python3", "-c", query).stdout.strip() == "100"


# Run from a container on the pods' network that belongs to no pod: what any other Pod of a cluster's
# flat network would see. Prints, per pod IP, what port 3306 does and which user /users/1 returns.
FROM_ANOTHER_POD = """
import json, socket, sys, urllib.request
seen = {}
for ip in sys.argv[1:]:
    try:
        socket.create_connection((ip, 3306), timeout=5).close()
        mysql = "open"
    except OSError as error:
        mysql = type(error).__name__
    user = json.load(urllib.request.urlopen(f"http://{ip}:8000/users/1", timeout=5))
    seen[ip] = [mysql, user["user_id"]]
print(json.dumps(seen))
"""


def test_mysql_is_refused_from_outside_its_pod_while_every_api_answers(played):
    name = f"outside-the-pods-{secrets.token_hex(3)}"
    try:
        command = ["python3", "-c", FROM_ANOTHER_POD, *[pod.ip for pod in played]]
        result = podman.podman("run", "--rm", "--name", name, "--network", KUBE_NETWORK, API_IMAGE, *command)
    finally:
        podman.podman("rm", "-f", name, check=False)
    assert json.loads(result.stdout) == {pod.ip: ["ConnectionRefusedError", 1] for pod in played}


def test_every_declared_probe_passes(played, manifests):
    # db: exec probes inside the db container; api: HTTP GETs to the pod's IP.
    for pod in played:
        for name in ("db", "api"):
            for probe in PROBES:
                assert run_probe(pod, manifests, name, probe), f"{pod.name} {name} {probe}"


def test_each_pod_keeps_its_mysql_data_on_its_own_emptydir(played, manifests):
    (declared,) = [
        m for m in container(manifests, "db")["volumeMounts"] if m["mountPath"] == "/var/lib/mysql"
    ]
    sources = set()
    for pod in played:
        mounts = json.loads(podman.podman("inspect", pod.container("db")).stdout)[0]["Mounts"]
        (data,) = [mount for mount in mounts if mount["Destination"] == declared["mountPath"]]
        assert data["Type"] == "volume" and data["Name"].endswith(f"-{declared['name']}"), data
        sources.add(data["Source"])
    # One directory per pod: podman alone would give every replica the same volume.
    assert len(sources) == len(played)


def process_status(pod, name: str) -> dict[str, list[str]]:
    """/proc/1/status of a container (its main process), as {field: values}."""
    status = exec_in(pod, name, "cat", "/proc/1/status").stdout
    return {key: value.split() for key, _, value in (line.partition(":") for line in status.splitlines())}


def test_each_container_runs_as_declared_with_no_capability_and_no_way_to_gain_one(played, manifests):
    pod_context = manifests["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    for pod in played:
        for name in ("db", "api"):
            declared = container(manifests, name)["securityContext"]
            status = process_status(pod, name)
            assert status["Uid"] == [str(declared["runAsUser"])] * 4, (pod.name, name)
            assert status["Gid"] == [str(declared["runAsGroup"])] * 4, (pod.name, name)
            # fsGroup joins every container's groups (here through pods.py, as a kubelet does it).
            assert str(pod_context["fsGroup"]) in status["Groups"], (pod.name, name)
            assert status["CapBnd"] == status["CapEff"] == ["0000000000000000"], (pod.name, name)
            assert status["NoNewPrivs"] == ["1"], (pod.name, name)  # allowPrivilegeEscalation: false


def test_each_container_writes_only_its_volumes(played, manifests):
    pod = played[0]
    for name in ("db", "api"):
        for mount in container(manifests, name)["volumeMounts"]:
            written = f"{mount['mountPath']}/written-by-the-test"
            assert exec_in(pod, name, "touch", written).returncode == 0, (name, written)
            exec_in(pod, name, "rm", written)
        # /var/tmp is writable by every user in both images: only a read-only root stops this.
        refused = exec_in(pod, name, "touch", "/var/tmp/written-by-the-test")
        assert "Read-only file system" in refused.stderr, (name, refused.stderr)


def test_mysql_took_the_entrypoints_non_root_path_and_owns_its_data(played, manifests):
    db = container(manifests, "db")["securityContext"]
    fs_group = manifests["Deployment"]["spec"]["template"]["spec"]["securityContext"]["fsGroup"]
    for pod in played:
        assert "Switching to dedicated user" not in db_log(pod), pod.name  # no gosu step
        # Made by mysqld itself, as the container's user; the group is fsGroup's, from the volume's
        # set-group-ID bit, as on a kubelet's volume.
        owners = exec_in(pod, "db", "stat", "-c", "%u:%g", "/var/lib/mysql/mysql").stdout.strip()
        assert owners == f"{db['runAsUser']}:{fs_group}", pod.name


def test_a_db_restart_fails_only_its_pods_readiness_and_keeps_its_data(played, manifests, figure):
    broken, healthy = played[-1], played[:-1]
    sql(broken, "CREATE DATABASE kept_across_restart")
    podman.podman("stop", "--time", "20", broken.container("db"))
    try:
        failed_after = wait_for_probe(broken, manifests, "api", "readinessProbe", passing=False)
        assert run_probe(broken, manifests, "api", "livenessProbe")  # the process is fine: no restart
        assert not run_probe(broken, manifests, "db", "readinessProbe")
        for pod in healthy:
            assert run_probe(pod, manifests, "api", "readinessProbe")
    finally:
        # The kubelet would start a new container from the same spec. With a read-only root filesystem
        # a container keeps nothing of its own, only the Pod's volumes, so starting the stopped one
        # again is the same. (podman's `container clone` would drop the user, groups, read-only root
        # and dropped capabilities.)
        podman.podman("start", broken.container("db"))
    recovered_after = wait_for_probe(broken, manifests, "api", "readinessProbe")
    # The restarted server found the data on the emptyDir: no second initialisation, the same password
    # (the API's readiness passed again), and what was written before.
    assert db_log(broken).count("Initializing database files") == 1
    assert "kept_across_restart" in sql(broken, "SHOW DATABASES").split()
    sql(broken, "DROP DATABASE kept_across_restart")
    figure(
        f"readiness failed {failed_after:.1f} s after MySQL stopped; "
        f"passed again {recovered_after:.1f} s after the db container started again"
    )


def test_without_fsgroup_mysql_cannot_write_a_volume_that_root_owns(images, manifests):
    # The control for the volumes that pods.py makes as a kubelet would (root's, mode 0755): the same
    # Pod without fsGroup fails, so the pod set above writes its data through fsGroup and nothing else.
    without = copy.deepcopy(manifests)
    without["Deployment"]["spec"]["replicas"] = 1
    del without["Deployment"]["spec"]["template"]["spec"]["securityContext"]["fsGroup"]
    deployment = PlayedDeployment(without)
    try:
        (pod,) = deployment.up()
        wait_until(
            lambda: 'Errcode: 13 "Permission denied"' in db_log(pod),
            60,
            "MySQL is refused its data directory",
            interval=podman.POLL_INTERVAL,
        )
    finally:
        deployment.down()
    assert deployment.leftovers() == []
