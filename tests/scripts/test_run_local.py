"""scripts/run_local.py (`make run`): serves, says when a port is taken, and leaves nothing behind."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import ROOT
from devstack.ports import free_port, wait_for_port
from support.http import http_get

SCRIPTS = ROOT / "scripts"


def run_local(api_port: int, db_port: int) -> subprocess.Popen:
    env = {**os.environ, "PORT": str(api_port), "DB_PORT": str(db_port)}
    return subprocess.Popen(
        [sys.executable, str(SCRIPTS / "run_local.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def children_of(pid: int) -> set[int]:
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.add(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serves_the_seeded_data_and_stops_both_processes_on_a_signal(stop_signal):
    api_port, db_port = free_port(), free_port()
    supervisor = run_local(api_port, db_port)
    try:
        wait_for_port(api_port, 30, alive=lambda: supervisor.poll() is None)
        assert http_get(f"http://127.0.0.1:{api_port}/status").text == "1"
        assert len(http_get(f"http://127.0.0.1:{api_port}/users").json()) == 100
        children = children_of(supervisor.pid)
        assert len(children) == 2  # mariadbd and uvicorn
        supervisor.send_signal(stop_signal)
        output, _ = supervisor.communicate(timeout=30)
    finally:
        supervisor.kill()
    assert supervisor.returncode == 0, output
    assert not any(alive(pid) for pid in children)
    assert "stopping the API and the database" in output


@pytest.mark.parametrize("taken", ["PORT", "DB_PORT"])
def test_says_which_port_is_taken(taken):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        ports = {"PORT": free_port(), "DB_PORT": free_port(), taken: busy}
        supervisor = run_local(ports["PORT"], ports["DB_PORT"])
        output, _ = supervisor.communicate(timeout=30)
    assert supervisor.returncode == 1
    assert f"port {busy}" in output and "already in use" in output and f"{taken}=<port>" in output
