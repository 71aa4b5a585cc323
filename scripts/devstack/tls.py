"""A throwaway certificate authority and a server certificate it signs, made with the openssl command.

For a MariaDB stand-in that requires TLS, as a managed MySQL does: the server certificate names the
address the API connects to (subjectAltName IP:127.0.0.1), so the verifying modes accept it.
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class OpensslMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what a client trusts
    cert: Path  # the server's certificate and key
    key: Path


def _openssl(*arguments: str) -> None:
    if not shutil.which("openssl"):
        raise OpensslMissing("openssl not found: install it (Debian: apt-get install openssl)")
    result = subprocess.run(["openssl", *arguments], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {arguments[0]} failed: {result.stderr.strip()}")


def make_certificates(directory: Path, server_ip: str = "127.0.0.1") -> Certificates:
    """A new CA in `directory`, and a certificate for a server at server_ip signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    made = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    ca_key, request, extensions = directory / "ca.key", directory / "server.csr", directory / "san.cnf"
    _openssl(
        "req",
        "-x509",
        *new_key,
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        str(ca_key),
        "-out",
        str(made.ca),
    )
    _openssl("req", *new_key, "-subj", "/CN=mysql", "-keyout", str(made.key), "-out", str(request))
    extensions.write_text(f"subjectAltName=IP:{server_ip}\n")
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(made.ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(made.cert),
    )  # fmt: skip
    return made
