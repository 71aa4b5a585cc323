"""Ingress -> Service -> Pods, as close to real as this machine allows: the ingress stand-in (nginx routed
from the committed Ingress and Service) in front of the podman pods of the committed Deployment."""

import collections
import json
import time

import httpx
import pytest

from devstack import ROOT
from devstack.ports import free_port
from devstack.wait import wait_until
from doubles.cluster import DoubledCluster
from k8s.ingress import IngressStandIn, route_config
from k8s.pods import Pod
from support import podman
from support.http import http_client, http_get, wait_for_status

pytestmark = pytest.mark.container


@pytest.fixture(scope="module")
def ingress(played, manifests):
    stand_in = IngressStandIn(manifests, played, free_port()).start()
    try:
        wait_for_status(f"{stand_in.url}/status")
        yield stand_in
    finally:
        stand_in.stop()


def served_by(ingress, requests: int = 60) -> collections.Counter:
    """Who answered each GET /users/1 through the ingress: a pod IP, or the status of a failed answer."""
    with http_client(base_url=ingress.url, timeout=5) as client:
        answers = [client.get("/users/1") for _ in range(requests)]
    return collections.Counter(
        answer.headers["x-served-by"].split(":")[0]
        if answer.status_code == 200
        else f"HTTP {answer.status_code}"
        for answer in answers
    )


def wait_for_rotation(ingress, pods: list[Pod]) -> None:
    """Until every answer comes from exactly these pods: nginx reloads its workers asynchronously, and an
    old worker closes its keep-alive connections as it goes, which a client sees as a dropped request."""
    expected = {pod.ip for pod in pods}
    wait_until(
        lambda: set(served_by(ingress)) == expected,
        30,
        f"the ingress serves from exactly {sorted(expected)}",
        ignore=(httpx.TransportError,),
    )


def test_the_routing_comes_from_the_committed_manifests(manifests):
    config = route_config(manifests, [Pod("p", "10.89.0.7")])
    assert "location / {" in config  # path "/" with pathType Prefix
    assert "upstream api_svc" in config  # backend Service api-svc
    assert "server 10.89.0.7:8000;" in config  # targetPort "http" resolved to the api containerPort


def test_the_api_answers_through_the_ingress(ingress):
    assert http_get(f"{ingress.url}/status").text == "1"
    users = http_get(f"{ingress.url}/users").json()
    assert len(users) == 100 and set(users[0]) == {"user_id", "username", "email"}
    assert http_get(f"{ingress.url}/users/1").json()["user_id"] == 1
    missing = http_get(f"{ingress.url}/users/101")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Unknown User ID"})


def test_requests_spread_over_all_three_pods(ingress, played):
    spread = served_by(ingress)
    assert set(spread) == {pod.ip for pod in played}, spread


def test_a_pod_whose_mysql_stops_leaves_the_rotation_and_comes_back(ingress, played, figure):
    broken = played[1]
    podman.podman("stop", "--time", "20", broken.container("db"))
    try:
        assert broken not in ingress.sync()
        wait_for_rotation(ingress, [pod for pod in played if pod != broken])
    finally:
        podman.podman("start", broken.container("db"))
    started = time.monotonic()
    wait_until(
        lambda: broken in ingress.sync(), 60, f"{broken.name} is ready again", interval=podman.POLL_INTERVAL
    )
    back_after = time.monotonic() - started
    wait_for_rotation(ingress, played)
    figure(
        f"pod {broken.name} left the rotation while MySQL was down, "
        f"and was back {back_after:.1f} s after MySQL restarted"
    )


def test_capture_proof_through_the_ingress_gives_a_complete_evidence_folder(
    ingress, played, tmp_path, figure
):
    # The kubectl test double reports the pods podman really runs.
    cluster = DoubledCluster(
        tmp_path,
        pods=[{"name": p.name, "ip": p.ip, "ready": True} for p in played],
        rollout_ok=True,
        ingress_address="",
    )
    result = cluster.run(ROOT / "scripts" / "capture-proof.sh", BASE_URL=ingress.url)
    assert result.returncode == 0, result.stderr
    (folder,) = (tmp_path / "evidence").iterdir()
    summary = (folder / "SUMMARY.md").read_text()
    assert "ALL 6 CHECKS PASSED" in summary
    assert len(json.loads((folder / "07_curl_users.json").read_text())) == 100
    figure(
        f"capture-proof.sh through the ingress stand-in: "
        f"{len(list(folder.iterdir()))} files, all 6 checks passed"
    )
