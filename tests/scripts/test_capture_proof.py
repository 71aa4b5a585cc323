"""scripts/capture-proof.sh: HTTP checks run for real; kubectl is the test double tests/doubles/kubectl."""

import json
import os
import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "capture-proof.sh"
DOUBLES = ROOT / "tests" / "doubles"
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


def run_capture(tmp_path: Path, state: dict, env: dict | None = None, path: str | None = None):
    """Run the script with the kubectl double first on PATH; returns (result, evidence folders)."""
    state_file = tmp_path / "cluster-state.json"
    state_file.write_text(json.dumps({"pods": PODS, "rollout_ok": True, "ingress_address": "", **state}))
    environment = {
        **os.environ,
        "PATH": path or f"{DOUBLES}:{os.environ['PATH']}",
        "KUBECTL_DOUBLE_STATE": str(state_file),
        "KUBECTL_DOUBLE_LOG": str(tmp_path / "kubectl-calls.log"),
        "EVIDENCE_ROOT": str(tmp_path / "evidence"),
        "PORT_FORWARD_PORT": str(free_port()),
        **(env or {}),
    }
    result = subprocess.run(
        [str(SCRIPT)], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    folders = sorted((tmp_path / "evidence").iterdir()) if (tmp_path / "evidence").exists() else []
    return result, folders


def summary_rows(folder: Path) -> dict[str, str]:
    rows = {}
    for line in (folder / "SUMMARY.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) >= 3 and cells[1] in ("PASS", "FAIL"):
            rows[cells[0]] = cells[1]
    return rows


class BrokenApi(ThreadingHTTPServer):
    """A deliberately broken API: /status is fine, /users answers 500 with an HTML error page."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, body, kind = {
                "/status": (200, b"1", "application/json"),
                "/users/1": (200, b'{"user_id":1,"username":"a","email":"b"}', "application/json"),
            }.get(self.path, (500, b"<html>Internal Server Error</html>", "text/html"))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    def __init__(self):
        super().__init__(("127.0.0.1", 0), self.Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def test_help_explains_the_checks_and_settings():
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for word in (*CHECKS, "BASE_URL", "NAMESPACE", "SELECTOR", "SERVICE", "INGRESS", "port-forward"):
        assert word in result.stdout


def test_success_gives_exit_0_and_a_complete_folder(tmp_path, api):
    result, folders = run_capture(tmp_path, {}, {"BASE_URL": api.base_url})
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


def test_a_500_from_the_api_fails_and_the_summary_names_the_check(tmp_path):
    broken = BrokenApi()
    try:
        result, (folder,) = run_capture(tmp_path, {}, {"BASE_URL": broken.url})
    finally:
        broken.shutdown()
    assert result.returncode == 1
    rows = summary_rows(folder)
    assert rows["users"] == "FAIL" and rows["status"] == "PASS"
    assert "GET /users answered HTTP 500" in (folder / "SUMMARY.md").read_text()
    assert "1 CHECK(S) FAILED" in (folder / "SUMMARY.md").read_text()
    # Diagnostics are saved on failure: describe, and both containers' logs of every pod.
    assert (folder / "90_describe.txt").exists()
    assert {f"91_logs_{pod['name']}_{c}.txt" for pod in PODS for c in ("db", "api")} <= {
        p.name for p in folder.iterdir()
    }


def test_an_unreachable_api_still_leaves_a_complete_folder(tmp_path):
    result, (folder,) = run_capture(tmp_path, {}, {"BASE_URL": f"http://127.0.0.1:{free_port()}"})
    assert result.returncode == 1
    rows = summary_rows(folder)
    assert [rows[check] for check in ("status", "users", "user_1")] == ["FAIL"] * 3
    assert {p.name for p in folder.iterdir()} >= EXPECTED_FILES
    assert "HTTP 000" in (folder / "SUMMARY.md").read_text()
    assert "Failed to connect" in (folder / "06_curl_status.headers").read_text()
    assert "INCOMPLETE" not in (folder / "SUMMARY.md").read_text()


def test_cluster_side_failures_are_reported(tmp_path, api):
    pods = [*PODS[:2], {**PODS[2], "ready": False}]
    result, (folder,) = run_capture(tmp_path, {"pods": pods, "rollout_ok": False}, {"BASE_URL": api.base_url})
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
    assert "2/3 Pods Ready" in text and "2 ready endpoints, expected 3" in text


def forwards_on(port: int) -> list[str]:
    found = subprocess.run(
        ["pgrep", "-f", f"port-forward svc/api-svc {port}:"], capture_output=True, text=True
    )
    return found.stdout.split()


def test_without_an_ingress_address_it_port_forwards_and_stops_the_forward(tmp_path, api):
    host_port = api.base_url.removeprefix("http://")
    local_port = free_port()
    result, (folder,) = run_capture(
        tmp_path, {"port_forward_to": host_port}, {"PORT_FORWARD_PORT": str(local_port)}
    )
    assert result.returncode == 0, result.stderr + (folder / "SUMMARY.md").read_text()
    assert "port-forward svc/api-svc" in (folder / "10_base_url.txt").read_text()
    calls = [json.loads(line) for line in (tmp_path / "kubectl-calls.log").read_text().splitlines()]
    assert any("port-forward" in call for call in calls)
    assert forwards_on(local_port) == []


def test_with_an_ingress_address_it_uses_it(tmp_path, api):
    host, port = api.base_url.removeprefix("http://").split(":")
    # The double's address carries a port so the request still lands on the local API.
    result, (folder,) = run_capture(tmp_path, {"ingress_address": f"{host}:{port}"})
    assert result.returncode == 0
    assert (folder / "10_base_url.txt").read_text().splitlines() == [
        api.base_url,
        "the address of ingress/api-ingress",
    ]


def test_two_runs_in_the_same_second_get_two_folders(tmp_path, api):
    # Take the names of the next seconds, so the run must find its own.
    now = datetime.now(UTC)
    evidence = tmp_path / "evidence"
    for offset in range(0, 6):
        (evidence / (now + timedelta(seconds=offset)).strftime("%Y%m%dT%H%M%SZ")).mkdir(parents=True)
    result, folders = run_capture(tmp_path, {}, {"BASE_URL": api.base_url})
    assert result.returncode == 0
    new = [folder for folder in folders if (folder / "SUMMARY.md").exists()]
    assert len(new) == 1 and new[0].name.endswith("-2")


def test_a_missing_tool_is_named(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "env", "date", "mkdir", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "kubectl").symlink_to(DOUBLES / "kubectl")
    result, folders = run_capture(tmp_path, {}, path=str(bin_dir))
    assert result.returncode == 2
    assert "missing required tool(s): curl jq" in result.stderr
    assert folders == []


@pytest.mark.parametrize("argument", ["--bogus", "extra"])
def test_an_unknown_argument_is_refused(argument):
    result = subprocess.run([str(SCRIPT), argument], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown argument" in result.stderr
