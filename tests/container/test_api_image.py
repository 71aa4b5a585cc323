"""api/Dockerfile, built unchanged on podman from the stand-in base, and run for real."""

import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from devstack import ROOT
from devstack.ports import free_port
from k8s.manifests import load
from support import podman
from support.canary import DB_PASSWORD
from support.http import http_get, wait_for_status
from support.podman import API_IMAGE

pytestmark = pytest.mark.container

IMAGE_SIZE_LIMIT_MB = 250


def config(image: str) -> dict:
    return json.loads(podman.podman("image", "inspect", image).stdout)[0]["Config"]


def run_in_image(*command: str) -> subprocess.CompletedProcess:
    return podman.podman("run", "--rm", "--entrypoint", command[0], API_IMAGE, *command[1:], check=False)


def test_the_image_is_small_and_says_so(images, figure):
    size_mb = podman.image_size_bytes(API_IMAGE) / 1e6
    figure(f"{API_IMAGE} is {size_mb:.1f} MB")
    assert size_mb < IMAGE_SIZE_LIMIT_MB


def test_it_runs_as_a_fixed_numeric_non_root_user(images):
    assert config(API_IMAGE)["User"] == "10001:10001"
    assert run_in_image("id", "-u").stdout.strip() == "10001"


def test_no_compiler_and_no_dev_package_in_the_runtime_image(images):
    for tool in ("gcc", "cc", "g++", "pkg-config", "make"):
        assert run_in_image("sh", "-c", f"command -v {tool}").returncode != 0, tool
    dev_packages = run_in_image(
        "sh", "-c", "dpkg-query -W -f '${Package}\\n' | grep -- '-dev$' || true"
    ).stdout
    assert dev_packages.strip() == ""


def test_the_caching_sha2_password_plugin_links_openssls_libcrypto(images):
    # MySQL 8 accounts default to caching_sha2_password, which libmariadb loads as a plugin at connect time.
    # Over plain TCP its first login encrypts the password with the server's RSA key: a connector built with
    # OpenSSL does that; one built with GnuTLS refuses with error 2061 ("RSA Encryption not supported").
    found = run_in_image("sh", "-c", "find / -path '*libmariadb*' -name caching_sha2_password.so 2>/dev/null")
    (plugin,) = found.stdout.split()
    linked = run_in_image("ldd", plugin)
    assert linked.returncode == 0, linked.stderr
    assert re.search(r"^\s*libcrypto\.so\.\d+ => /\S+", linked.stdout, re.MULTILINE), linked.stdout
    assert "gnutls" not in linked.stdout and "not found" not in linked.stdout
    assert run_in_image("python3", "-c", "import MySQLdb").returncode == 0


def test_one_uvicorn_process_serves_read_only_without_capabilities_and_stops_on_sigterm(images):
    port = free_port()
    container = podman.podman(
        "run",
        "-d",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-p",
        f"127.0.0.1:{port}:8000",
        API_IMAGE,
    ).stdout.strip()
    try:
        # The published port accepts before uvicorn inside does: wait for an HTTP answer.
        wait_for_status(f"http://127.0.0.1:{port}/status")
        assert http_get(f"http://127.0.0.1:{port}/status", timeout=5).text == "1"
        # Without a database, data routes answer 503 instead of crashing the container.
        assert http_get(f"http://127.0.0.1:{port}/users", timeout=5).status_code == 503
        # Exec-form CMD: uvicorn is PID 1, the only process, so the runtime's SIGTERM reaches it.
        processes = podman.podman("top", container, "pid", "args").stdout.splitlines()[1:]
        assert len(processes) == 1, processes
        pid, args = processes[0].split(None, 1)
        assert pid == "1" and "uvicorn main:server" in args
        podman.podman("stop", "--time", "20", container, timeout=60)
        logs = podman.podman("logs", container).stderr
        assert "Application shutdown complete" in logs  # a clean shutdown, not a SIGKILL
        assert "Read-only file system" not in logs
    finally:
        podman.podman("rm", "-f", container, check=False)


def test_no_env_file_and_no_password_of_the_repository_reaches_any_layer(images, tmp_path):
    # Built from a copy of api/ with a planted .env, which .dockerignore must keep out of every layer;
    # otherwise the same context and Dockerfile as the API image, so its layers hold what the API
    # image's do.
    canary = "image-leak-canary-3f9c"
    context = tmp_path / "api"
    shutil.copytree(ROOT / "api", context, ignore=shutil.ignore_patterns("__pycache__"))
    (context / ".env").write_text(f"MYSQL_PASSWORD={canary}\n")
    podman.build(context, "localhost/user-api:dockerignore-check")
    try:
        podman.podman(
            "save",
            "--format",
            "docker-dir",
            "-o",
            str(tmp_path / "layers"),
            "localhost/user-api:dockerignore-check",
        )
    finally:
        podman.podman("rmi", "localhost/user-api:dockerignore-check", check=False)
    files = every_file_in(tmp_path / "layers")
    secret = load()["Secret"]["stringData"]["MYSQL_PASSWORD"]
    example = next(
        line.split("=", 1)[1]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.startswith("MYSQL_PASSWORD=")
    )
    for password in (canary, secret, example, DB_PASSWORD):
        assert password.encode() not in files, password
    assert not any("PASSWORD" in variable for variable in config(API_IMAGE)["Env"])


def every_file_in(layers: Path) -> bytes:
    """The concatenated bytes of every file of every layer of a `podman save --format docker-dir` folder."""
    contents = []
    for blob in layers.iterdir():
        if tarfile.is_tarfile(blob):
            with tarfile.open(blob) as layer:
                contents += [
                    layer.extractfile(entry).read() for entry in layer.getmembers() if entry.isfile()
                ]
    assert contents, "no layer content was read"
    return b"".join(contents)
