"""The password (a distinctive canary in the tests) is never on the command line, in a response, or in a log.

Also covered elsewhere: every image layer and the build context (tests/container/test_api_image.py),
`.env` ignored by git (tests/container/test_compose.py), the settings error path (tests/api/test_settings.py).
"""

import subprocess
from pathlib import Path

from support.canary import DB_PASSWORD
from support.http import http_client, http_get

PATHS = [
    "/status",
    "/ready",
    "/users",
    "/users/1",
    "/users/0",
    "/users/abc",
    "/openapi.json",
    "/docs",
    "/users/" + "1" * 9000,
    "/nope",
]


def test_not_on_the_process_command_line(api):
    command_line = Path(f"/proc/{api.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert "main:server" in command_line  # the right process was read
    assert DB_PASSWORD not in command_line
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert DB_PASSWORD not in listing


def test_not_in_any_response_or_header_or_log_line(api, new_mariadb, start_api, mariadb):
    failing = start_api(new_mariadb())  # database never started: every kind of error gets logged
    for service in (api, failing):
        with http_client(base_url=service.base_url, timeout=10) as client:
            for path in PATHS:
                response = client.get(path)
                assert DB_PASSWORD not in response.text, path
                assert DB_PASSWORD not in str(response.headers), path
    with mariadb.table_lock():  # a timed-out query gets logged too
        assert http_get(f"{api.base_url}/users/3", timeout=10).status_code == 503
    logs = api.logs() + failing.logs()
    # The logs searched are the live ones, with the errors in them.
    assert "GET /users/1 HTTP/1.1" in logs and "database error: OperationalError" in logs
    assert "database call exceeded its deadline" in logs
    assert DB_PASSWORD not in logs
