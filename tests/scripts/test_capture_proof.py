"""scripts/capture-proof.sh: HTTP checks run for real; kubectl is the test double tests/doubles/kubectl."""

import json
import shutil
import socket
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack import ROOT
from devstack.ports import free_port
from doubles.cluster import DOUBLES, DoubledCluster

SCRIPT = ROOT / "scripts" / "capture-proof.sh"
PODS = [{"name": f"api-mysql-5d8f-{n}", "ip": f"10.42.0.{10 + n}", "ready": True} for n in range(3)]
CHECKS = ["rollout", "pods", "endpoints", "status", "users", "user_1"]
EXPECTED_FILES = {
    "SUMMARY.md",
    "00_meta.txt",
    "01_rollout.txt",
    "02_pods.txt",
    "02_pods.json",
    "03_service.txt",
    "04_endpointslices.txt",
    "04_endpointslices.json",
    "05_ingress.txt",
    "10_base_url.txt",
    "06_curl_status.headers",
    "06_curl_status.json",
    "07_curl_users.headers",
    "07_curl_users.json",
    "08_curl_user_1.headers",
    "08_curl_user_1.json",
}


@pytest.fixture
def cluster(tmp_path) -> DoubledCluster:
    return DoubledCluster(tmp_path, pods=PODS, rollout_ok=True, ingress_address="")


def run_capture(cluster: DoubledCluster, path: str | None = None, **settings: str):
    """Run the script with the doubles first on PATH; returns (result, evidence folders)."""
    result = cluster.run(SCRIPT, path=path, **settings)
    evidence = cluster.state_file.parent / "evidence"
    return result, sorted(evidence.iterdir()) if evidence.exists() else []


def summary_rows(folder: Path) -> dict[str, str]:
    rows = {}
    for line in (folder / "SUMMARY.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) >= 3 and cells[1] in ("PASS", "FAIL"):
            rows[cells[0]] = cells[1]
    return rows


def all_passed(result: subprocess.CompletedProcess, folder: Path) -> bool:
    return result.returncode == 0 and summary_rows(folder) == dict.fromkeys(CHECKS, "PASS")


JSON = "application/json"
USER_1 = (200, b'{"user_id":1,"username":"a","email":"b"}', JSON)
# Another process's HTTP server on the port, answering every GET as the API would.
LOOKS_LIKE_THE_API = {
    "/status": (200, b"1", JSON),
    "/users/1": USER_1,
    None: (200, b"[" + USER_1[1] + b"]", JSON),
}
# A deliberately broken API: /status is fine, /users answers 500 with an HTML error page.
BROKEN_API = {
    "/status": (200, b"1", JSON),
    "/users/1": USER_1,
    None: (500, b"<html>Internal Server Error</html>", "text/html"),
}


class CannedServer(ThreadingHTTPServer):
    """An HTTP server on a loopback port giving fixed answers by path (None: any other path); it counts
    the requests it gets."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.server.requests += 1
            answers = self.server.answers
            status, body, kind = answers.get(self.path, answers[None])
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    def __init__(self, answers: dict, host: str, port: int = 0):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.answers = answers
        self.requests = 0
        super().__init__((host, port), self.Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def canned_server():
    """Start CannedServers; all are shut down afterwards."""
    started: list[CannedServer] = []

    def start(answers: dict, host: str = "127.0.0.1", port: int = 0) -> CannedServer:
        started.append(CannedServer(answers, host, port))
        return started[-1]

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def test_help_names_every_check_and_setting():
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    settings = ("NAMESPACE", "SELECTOR", "SERVICE", "INGRESS", "EVIDENCE_ROOT", "BASE_URL", "REQUEST_TIMEOUT")
    assert [word for word in (*CHECKS, *settings) if word not in result.stdout] == []


def test_success_gives_exit_0_and_a_complete_folder(cluster, api):
    result, folders = run_capture(cluster, BASE_URL=api.base_url)
    assert result.returncode == 0, result.stderr
    (folder,) = folders
    assert {p.name for p in folder.iterdir()} >= EXPECTED_FILES
    assert summary_rows(folder) == dict.fromkeys(CHECKS, "PASS")
    assert "ALL 6 CHECKS PASSED" in (folder / "SUMMARY.md").read_text()
    assert (folder / "06_curl_status.json").read_text() == "1"
    assert (folder / "06_curl_status.headers").read_text().startswith("HTTP/1.1 200")
    assert len(json.loads((folder / "07_curl_users.json").read_text())) == 100
    assert "git commit:" in (folder / "00_meta.txt").read_text()
    assert not (folder / "90_describe.txt").exists()
    assert not list(folder.glob("*.err"))  # kubectl said nothing on stderr
    assert result.stdout == f"{folder}\n"  # the folder, for scripts such as deploy.sh


def test_the_rollout_wait_is_bounded_by_timeout_not_request_timeout(cluster, api):
    # --request-timeout on a watch cuts the watch itself; every other call keeps it.
    run_capture(cluster, BASE_URL=api.base_url)
    calls = [call["args"] for call in cluster.calls("kubectl")]
    (rollout,) = [args for args in calls if "rollout" in args]
    assert "--timeout=300s" in rollout and not any(arg.startswith("--request-timeout") for arg in rollout)
    others = [args for args in calls if args[:1] != ["config"] and "rollout" not in args]
    assert others and all("--request-timeout=30s" in args for args in others)


def test_a_klog_warning_on_every_call_stays_out_of_the_json(cluster, api):
    # kubectl prints such a warning on every call while metrics-server is down.
    cluster.update(klog_warning=True)
    result, (folder,) = run_capture(cluster, BASE_URL=api.base_url)
    assert all_passed(result, folder), result.stderr
    for name in ("02_pods", "04_endpointslices"):
        json.loads((folder / f"{name}.json").read_text())
        assert "metrics.k8s.io" in (folder / f"{name}.err").read_text()


def test_objects_in_the_contexts_namespace_are_found(cluster, api):
    cluster.update(namespace="shop")  # the current context's namespace too
    result, (folder,) = run_capture(cluster, BASE_URL=api.base_url)
    assert all_passed(result, folder), result.stderr
    assert "namespace:        shop" in (folder / "00_meta.txt").read_text()
    assert all(
        "--namespace" in args and args[args.index("--namespace") + 1] == "shop"
        for args in (call["args"] for call in cluster.calls("kubectl"))
        if args[:1] != ["config"]
    )


def test_NAMESPACE_overrides_the_contexts_namespace(cluster, api, tmp_path):
    cluster.update(namespace="shop", context_namespace="")
    result, (folder,) = run_capture(cluster, BASE_URL=api.base_url)
    assert result.returncode == 1 and summary_rows(folder)["pods"] == "FAIL"  # looked in "default"
    shutil.rmtree(folder)
    result, (folder,) = run_capture(cluster, BASE_URL=api.base_url, NAMESPACE="shop")
    assert all_passed(result, folder), result.stderr


def test_an_ingress_address_that_refuses_falls_back_to_a_port_forward(cluster, api):
    # e.g. minikube's docker driver on macOS: the node address shown is not reachable from the host.
    refusing = f"127.0.0.1:{free_port()}"
    cluster.update(ingress_address=refusing, port_forward_to=api.base_url.removeprefix("http://"))
    result, (folder,) = run_capture(cluster)
    assert all_passed(result, folder), result.stderr + (folder / "SUMMARY.md").read_text()
    url, how = (folder / "10_base_url.txt").read_text().splitlines()
    assert url.startswith("http://127.0.0.1:") and url != f"http://{refusing}"
    assert f"http://{refusing}) does not answer" in how and "port-forward svc/api-svc" in how


def test_a_500_from_the_api_fails_and_the_summary_names_the_check(cluster, canned_server):
    result, (folder,) = run_capture(cluster, BASE_URL=canned_server(BROKEN_API).url)
    assert result.returncode == 1
    rows = summary_rows(folder)
    assert rows["users"] == "FAIL" and rows["status"] == "PASS"
    assert "GET /users answered HTTP 500" in (folder / "SUMMARY.md").read_text()
    assert "1 CHECK(S) FAILED" in (folder / "SUMMARY.md").read_text()
    # Diagnostics on failure: describe, both containers' logs of every pod, of this run and the one before
    # (a crash loop's cause), and the events.
    names = {p.name for p in folder.iterdir()}
    assert "90_describe.txt" in names and "93_events.txt" in names
    for prefix in ("91_logs", "92_previous_logs"):
        assert {f"{prefix}_{pod['name']}_{c}.txt" for pod in PODS for c in ("db", "api")} <= names
    assert "--previous" in (folder / f"92_previous_logs_{PODS[0]['name']}_db.txt").read_text()


def test_an_unreachable_api_still_leaves_a_complete_folder(cluster):
    result, (folder,) = run_capture(cluster, BASE_URL=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    rows = summary_rows(folder)
    assert [rows[check] for check in ("status", "users", "user_1")] == ["FAIL"] * 3
    assert {p.name for p in folder.iterdir()} >= EXPECTED_FILES
    assert "HTTP 000" in (folder / "SUMMARY.md").read_text()
    assert "Failed to connect" in (folder / "06_curl_status.headers").read_text()
    assert "INCOMPLETE" not in (folder / "SUMMARY.md").read_text()


def test_cluster_side_failures_are_reported(cluster, api):
    cluster.update(pods=[*PODS[:2], {**PODS[2], "ready": False}], rollout_ok=False)
    result, (folder,) = run_capture(cluster, BASE_URL=api.base_url)
    assert result.returncode == 1
    assert summary_rows(folder) == {
        "rollout": "FAIL",
        "pods": "FAIL",
        "endpoints": "FAIL",
        "status": "PASS",
        "users": "PASS",
        "user_1": "PASS",
    }
    text = (folder / "SUMMARY.md").read_text()
    assert "2/3 Pods Ready" in text and "ready endpoints on 2 Pods, expected 3" in text
    assert "Readiness probe failed" in (folder / "93_events.txt").read_text()


def forwards_of(cluster: DoubledCluster) -> list[str]:
    """The port-forward processes of this test's cluster double that are still running."""
    found = subprocess.run(
        ["pgrep", "-f", "kubectl .*port-forward svc/api-svc"], capture_output=True, text=True
    )
    return [pid for pid in found.stdout.split() if str(cluster.state_file) in environment_of(pid)]


def environment_of(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_without_an_ingress_address_it_port_forwards_on_a_port_kubectl_picks_and_stops_it(cluster, api):
    cluster.update(port_forward_to=api.base_url.removeprefix("http://"))
    result, (folder,) = run_capture(cluster)
    assert result.returncode == 0, result.stderr + (folder / "SUMMARY.md").read_text()
    url, how = (folder / "10_base_url.txt").read_text().splitlines()
    assert how.startswith("ingress/api-ingress has no address: kubectl port-forward svc/api-svc")
    (forward,) = [call["args"] for call in cluster.calls("kubectl") if "port-forward" in call["args"]]
    assert forward[-1] == ":8000"  # kubectl chooses a free local port
    said = (folder / "10_port_forward.log").read_text()
    assert f"Forwarding from {url.removeprefix('http://')} -> 8000" in said  # the port kubectl reported
    assert forwards_of(cluster) == []


def test_a_taken_port_forward_port_fails_naming_kubectls_error_and_sends_nothing(cluster, api, canned_server):
    # The port is taken on both loopback addresses by another HTTP server that answers like the API;
    # kubectl cannot listen, so nothing may be sent to that port and nothing it says may be recorded.
    ipv4 = canned_server(LOOKS_LIKE_THE_API)
    ipv6 = canned_server(LOOKS_LIKE_THE_API, "::1", ipv4.port)
    cluster.update(port_forward_to=api.base_url.removeprefix("http://"))
    result, (folder,) = run_capture(cluster, PORT_FORWARD_PORT=str(ipv4.port))
    assert result.returncode == 1
    rows = summary_rows(folder)
    assert [rows[check] for check in ("status", "users", "user_1")] == ["FAIL"] * 3
    summary = (folder / "SUMMARY.md").read_text()
    assert "did not come up: kubectl exited: error: unable to listen on any of the requested ports" in summary
    assert ipv4.requests == ipv6.requests == 0
    assert not list(folder.glob("0[678]_curl_*"))
    assert (folder / "10_base_url.txt").read_text().splitlines()[0] == "none"
    assert forwards_of(cluster) == []


def test_with_only_the_ipv4_port_taken_the_checks_go_where_kubectl_listens(cluster, api, canned_server):
    # kubectl then listens on [::1] only; 127.0.0.1 on the same port is another process.
    other = canned_server(LOOKS_LIKE_THE_API)
    cluster.update(port_forward_to=api.base_url.removeprefix("http://"))
    result, (folder,) = run_capture(cluster, PORT_FORWARD_PORT=str(other.port))
    assert all_passed(result, folder), result.stderr + (folder / "SUMMARY.md").read_text()
    assert (folder / "10_base_url.txt").read_text().splitlines()[0] == f"http://[::1]:{other.port}"
    assert other.requests == 0
    assert len(json.loads((folder / "07_curl_users.json").read_text())) == 100  # the real API's users


def test_a_port_forward_that_never_listens_fails_within_its_wait_and_is_stopped(cluster):
    cluster.update(port_forward_hangs=True)  # e.g. an API server that never answers kubectl
    result, (folder,) = run_capture(cluster, PORT_FORWARD_WAIT="1")
    assert result.returncode == 1
    assert "kubectl said nothing about listening within 1s" in (folder / "SUMMARY.md").read_text()
    assert not list(folder.glob("0[678]_curl_*"))
    assert forwards_of(cluster) == []


def test_a_dual_stack_service_counts_each_pod_once(cluster, api):
    # One EndpointSlice per IP family: 6 addresses, 3 Pods.
    cluster.update(ip_families=["IPv4", "IPv6"])
    result, (folder,) = run_capture(cluster, BASE_URL=api.base_url)
    assert all_passed(result, folder), result.stderr + (folder / "SUMMARY.md").read_text()
    slices = json.loads((folder / "04_endpointslices.json").read_text())["items"]
    assert [s["addressType"] for s in slices] == ["IPv4", "IPv6"]
    assert sum(len(s["endpoints"]) for s in slices) == 6
    assert "ready endpoints on 3 Pods" in (folder / "SUMMARY.md").read_text()


def test_a_dual_stack_service_with_a_pod_not_ready_fails(cluster, api):
    cluster.update(ip_families=["IPv4", "IPv6"], pods=[*PODS[:2], {**PODS[2], "ready": False}])
    result, (folder,) = run_capture(cluster, BASE_URL=api.base_url)
    assert result.returncode == 1 and summary_rows(folder)["endpoints"] == "FAIL"
    assert "ready endpoints on 2 Pods, expected 3" in (folder / "SUMMARY.md").read_text()


def test_with_an_ingress_address_that_answers_it_uses_it(cluster, api):
    host, port = api.base_url.removeprefix("http://").split(":")
    # The double's address carries a port so the request still lands on the local API.
    cluster.update(ingress_address=f"{host}:{port}")
    result, (folder,) = run_capture(cluster)
    assert result.returncode == 0
    assert (folder / "10_base_url.txt").read_text().splitlines() == [
        api.base_url,
        "the address of ingress/api-ingress",
    ]
    assert not any("port-forward" in call["args"] for call in cluster.calls("kubectl"))


def test_two_runs_in_the_same_second_get_two_folders(cluster, api):
    # Take the names of the next seconds, so the run must find its own.
    now = datetime.now(UTC)
    evidence = cluster.state_file.parent / "evidence"
    for offset in range(0, 6):
        (evidence / (now + timedelta(seconds=offset)).strftime("%Y%m%dT%H%M%SZ")).mkdir(parents=True)
    result, folders = run_capture(cluster, BASE_URL=api.base_url)
    assert result.returncode == 0
    new = [folder for folder in folders if (folder / "SUMMARY.md").exists()]
    assert len(new) == 1 and new[0].name.endswith("-2")


def test_a_missing_tool_is_named(cluster, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "env", "date", "mkdir", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "kubectl").symlink_to(DOUBLES / "kubectl")
    result, folders = run_capture(cluster, path=str(bin_dir))
    assert result.returncode == 2
    assert "missing required tool(s): curl jq" in result.stderr
    assert folders == []


@pytest.mark.parametrize("argument", ["--bogus", "extra"])
def test_an_unknown_argument_is_refused(argument):
    result = subprocess.run([str(SCRIPT), argument], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown argument" in result.stderr
