"""TLS to a MySQL outside the Pod: the real API process against a MariaDB that accepts TLS clients only
(require_secure_transport, as managed servers do), with a CA and a server certificate for 127.0.0.1
that the tests make with the openssl command (devstack/tls.py).

Every answer over TLS is read on a worker thread (a peek sees only encrypted bytes): these tests, and
the TLS runs of test_database.py, test_deadlines.py and tests/reliability/test_load.py, run that path.
"""

import pytest

from devstack.tls import make_certificates
from support.http import http_client


@pytest.mark.parametrize("mode", ["REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"])
def test_every_route_is_served_over_tls(tls_mariadb, start_api, mode):
    ca = tls_mariadb.env()["MYSQL_SSL_CA"] if mode.startswith("VERIFY") else ""
    api = start_api(tls_mariadb, MYSQL_SSL_MODE=mode, MYSQL_SSL_CA=ca)
    with http_client(base_url=api.base_url, timeout=10) as client:
        assert client.get("/status").text == "1"
        assert client.get("/ready").json() == {"detail": "ready"}
        assert [user["user_id"] for user in client.get("/users").json()] == list(range(1, 101))
        page = client.get("/users?limit=2&after_id=5")
        assert [user["user_id"] for user in page.json()] == [6, 7]
        assert page.links["next"]["url"] == "/users?limit=2&after_id=7"
        assert client.get("/users/7").json()["user_id"] == 7
        assert client.get("/users/101").status_code == 404


@pytest.mark.parametrize("refused", ["another CA", "no TLS"])
def test_a_connection_that_is_refused_gives_503_on_ready_and_the_process_keeps_running(
    tls_mariadb, start_api, tmp_path, refused
):
    if refused == "another CA":  # the API cannot verify the server's certificate
        settings = {"MYSQL_SSL_CA": str(make_certificates(tmp_path).ca)}
    else:  # the server refuses a client without TLS
        settings = {"MYSQL_SSL_MODE": "DISABLED", "MYSQL_SSL_CA": ""}
    api = start_api(tls_mariadb, **settings)
    with http_client(base_url=api.base_url, timeout=10) as client:
        ready = client.get("/ready")
        assert (ready.status_code, ready.json()) == (503, {"detail": "Database unavailable"})
        assert client.get("/status").text == "1"
    assert api.running()
