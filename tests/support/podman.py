"""Podman, set up for this sandbox, and the images the container tests run.

No image can be pulled here, so the tests build stand-ins:
- a Debian bookworm base with Debian's Python 3.11, tagged with the name the Dockerfile's FROM uses
  (python:3.11-slim-bookworm), so api/Dockerfile builds unchanged;
- a MariaDB image that behaves like datascientest/mysql-k8s:1.0.0 (official MySQL entrypoint contract,
  seeded Main.Users), clearly named as a stand-in.
The base is reused while it exists; the images on it carry a digest of what they are built from and are
rebuilt only when it changes, so a warm machine rebuilds nothing.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devstack import ROOT

STANDINS = ROOT / "tests" / "standins"

PYTHON_BASE = "docker.io/library/python:3.11-slim-bookworm"
PYTHON_BASE_STANDIN = "localhost/standin/python:3.11-slim-bookworm"
MYSQL_STANDIN = "localhost/standin/mysql-k8s:1.0.0"
INGRESS_STANDIN = "localhost/standin/ingress-nginx:test"
API_IMAGE = "localhost/user-api:test"
# Seconds between podman calls in a wait: each call costs 0.1-0.2 s of CPU, so a tighter poll would keep
# a core busy and slow down the very container being waited for.
POLL_INTERVAL = 0.5
# Carried by every image the tests build: the digest of what it was built from (see build).
INPUTS_LABEL = "org.user-api.test.build-inputs"

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
REQUIRED_TOOLS = {
    "podman": "podman",
    "catatonit": "catatonit",
    "debootstrap": "debootstrap",
    "buildah": "buildah",
    "runc": "runc",
}
# What a -slim Debian image leaves out; the stand-in base drops the same so its size is comparable.
SLIM_EXCLUDES = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt/archives",
    "var/lib/apt/lists",
)
# Debian's container images keep apt from caching packages and package lists in image layers.
SLIM_CONFIG = {
    "etc/apt/apt.conf.d/docker-clean": 'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };\n',
    "etc/dpkg/dpkg.cfg.d/docker-slim": "".join(f"path-exclude /{path}/*\n" for path in SLIM_EXCLUDES[:4]),
}


# The package that lets containers on one network find each other by name, per network backend.
DNS_PLUGIN = {
    "cni": "golang-github-containernetworking-plugin-dnsname",
    "netavark": "aardvark-dns",
}


class PodmanUnavailable(RuntimeError):
    pass


def podman(*args: str, check: bool = True, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"podman {' '.join(args[:3])} ... failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result


def prepare_engine(workdir: Path) -> None:
    """Make podman usable in this sandbox, or raise PodmanUnavailable naming what is missing."""
    missing = [
        package
        for tool, package in REQUIRED_TOOLS.items()
        if not (shutil.which(tool) or Path(f"/usr/libexec/podman/{tool}").exists())
    ]
    if missing:
        raise PodmanUnavailable(
            f"no usable container engine: install {' '.join(sorted(set(missing)))} "
            "(Debian: apt-get install -y podman buildah catatonit debootstrap)"
        )
    # Containers get default ulimits above the sandbox's hard limits unless told otherwise; the process
    # limit must even stay below the hard one (setting it equal is refused too).
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1] // 2, 32768)
    settings = f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
    if shutil.which("runc"):
        # crun refuses hosts whose cgroup v2 hierarchy has controllers next to v1 ("hybrid mode"),
        # as these machines have; runc accepts them.
        settings += '[engine]\nruntime = "runc"\n'
    conf = workdir / "containers.conf"
    conf.write_text(settings)
    os.environ["CONTAINERS_CONF"] = str(conf)
    probe = podman("info", "--format", "{{.Host.NetworkBackend}}", check=False, timeout=60)
    if probe.returncode != 0:
        raise PodmanUnavailable(f"podman does not work here: {probe.stderr.strip()[-500:]}")


def check_container_dns() -> None:
    """Raise PodmanUnavailable, naming the package, if a new network would not resolve service names.

    Compose reaches the database as `db`; without the DNS plugin that name fails inside the api
    container ("Name or service not known"), which would otherwise show only as a long wait.
    """
    network = f"dns-check-{secrets.token_hex(4)}"
    podman("network", "create", network, timeout=60)
    try:
        inspected = json.loads(podman("network", "inspect", network).stdout)[0]
    finally:
        podman("network", "rm", "-f", network, check=False)
    if not inspected.get("dns_enabled"):
        backend = podman("info", "--format", "{{.Host.NetworkBackend}}").stdout.strip()
        package = DNS_PLUGIN.get(backend, "the DNS plugin of the network backend")
        raise PodmanUnavailable(
            f"podman networks have no DNS (backend {backend}): containers cannot reach each other by "
            f"name. Install {package} (scripts/bootstrap.sh does)"
        )


@contextlib.contextmanager
def images_lock() -> Iterator[None]:
    """Held while the test images are built, so that processes running tests side by side build once."""
    with open(Path(tempfile.gettempdir()) / "user-api-test-images.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def build_python_base() -> None:
    """Debian bookworm minbase + Debian's python3 (3.11), python3-venv and python3-pip."""
    if image_exists(PYTHON_BASE_STANDIN):
        podman("tag", PYTHON_BASE_STANDIN, PYTHON_BASE)
        return
    with tempfile.TemporaryDirectory(prefix="standin-rootfs-") as rootfs:
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,python3-pip",
                "bookworm",
                rootfs,
                "http://deb.debian.org/debian",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        for excluded in SLIM_EXCLUDES:
            for child in Path(rootfs, excluded).glob("*"):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        for path, text in SLIM_CONFIG.items():
            Path(rootfs, path).write_text(text)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        podman(
            "import",
            "--change",
            "ENV LANG=C.UTF-8",
            "--change",
            'CMD ["python3"]',
            "--message",
            "STAND-IN for python:3.11-slim-bookworm (debootstrap + Debian python3)",
            "-",
            PYTHON_BASE_STANDIN,
            stdin=tar.stdout,
        )
        tar.wait()
    podman("tag", PYTHON_BASE_STANDIN, PYTHON_BASE)


@contextlib.contextmanager
def build_time_mounts() -> Iterator[list[str]]:
    """The only additions a build gets here: the proxy's CA and a pip config that trusts it, mounted
    for the build only, so the Dockerfiles stay as users run them."""
    with tempfile.TemporaryDirectory(prefix="pipconf-") as scratch:
        pip_conf = Path(scratch, "pip.conf")
        pip_conf.write_text("[global]\ncert = /run/host-ca.crt\n")
        yield ["-v", f"{HOST_CA_BUNDLE}:/run/host-ca.crt:ro", "-v", f"{pip_conf}:/etc/pip.conf:ro"]


def build(context: Path, tag: str, *extra: str) -> None:
    """podman build, skipped when `tag` already holds a build of the very same inputs: even a build
    whose every step is cached hashes every COPY source again (about 5 s of CPU for the API image)."""
    inputs = build_inputs_digest(context, extra)
    if built_from(tag) == inputs:
        return
    with build_time_mounts() as mounts:
        label = f"{INPUTS_LABEL}={inputs}"
        build_options = ["--pull=never", "--layers", "-t", tag, "--label", label, *mounts, *extra]
        podman("build", *build_options, str(context), timeout=900)


def build_inputs_digest(context: Path, extra: tuple[str, ...]) -> str:
    """What decides a test image: every file of its build context (names, modes, contents; Python's
    caches aside), the build options, and the stand-in base that every test image starts from."""
    digest = hashlib.sha256()
    for path in sorted(context.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            name = str(path.relative_to(context))
            digest.update(f"{name}\0{path.stat().st_mode:o}\0".encode() + path.read_bytes() + b"\0")
    base = podman("image", "inspect", "--format", "{{.Id}}", PYTHON_BASE_STANDIN).stdout.strip()
    digest.update("\0".join([*extra, base]).encode())
    return digest.hexdigest()


def built_from(tag: str) -> str | None:
    """The inputs digest `tag` was built from, or None if there is no such image."""
    label = podman(
        "image", "inspect", "--format", f'{{{{index .Labels "{INPUTS_LABEL}"}}}}', tag, check=False
    )
    return label.stdout.strip() if label.returncode == 0 else None


def build_test_images() -> list[str]:
    """Build what is missing or out of date, base first; how long each build took, as figure lines.

    Under a file lock: processes side by side (test workers, bootstrap's head start) build once, and the
    others find every image current.
    """

    def timed(build: Callable[[], None]) -> str:
        started = time.monotonic()
        build()
        return f"images: {build.__name__} took {time.monotonic() - started:.1f} s"

    with images_lock():
        figures = [timed(build_python_base)]
        on_the_base = (build_api_image, build_mysql_standin, build_ingress_standin)
        with ThreadPoolExecutor(len(on_the_base)) as builders:
            figures += builders.map(timed, on_the_base)
    return figures


def build_api_image() -> None:
    build(ROOT / "api", API_IMAGE)


def build_mysql_standin() -> None:
    # The context is the stand-in's folder plus the project's seed file, copied beside it.
    with tempfile.TemporaryDirectory(prefix="mysql-standin-") as context:
        shutil.copytree(STANDINS / "mysql", context, dirs_exist_ok=True)
        shutil.copy(ROOT / "scripts" / "sql" / "users-seed.sql", context)
        build(Path(context), MYSQL_STANDIN)


def build_ingress_standin() -> None:
    build(STANDINS / "ingress", INGRESS_STANDIN)


def image_size_bytes(name: str) -> int:
    return int(json.loads(podman("image", "inspect", name).stdout)[0]["Size"])


if __name__ == "__main__":
    # scripts/bootstrap.sh starts this in the background on `make test`: a head start on a new machine,
    # where the images take minutes to build. PYTHONPATH=scripts:tests python3 -m support.podman
    # A shell starts a background command with Ctrl-C ignored; take it back, for this process and (reset
    # to the default at exec) for the builds it starts, so that Ctrl-C stops them with `make`.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="podman-conf-") as workdir:
        try:
            prepare_engine(Path(workdir))
        except PodmanUnavailable as error:
            raise SystemExit(f"test images: {error}") from None
        print("\n".join(build_test_images()), flush=True)
