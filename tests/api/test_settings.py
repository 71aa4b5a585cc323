"""The settings in main.py: a bad one stops start-up with one line that names it, and never shows a value."""

import os
import subprocess
import sys

import pytest

from devstack.api import API_DIR
from main import load_settings
from support.canary import DB_PASSWORD


@pytest.fixture(autouse=True)
def no_mysql_settings(monkeypatch):
    """Each test sees only the MYSQL_* variables it sets, whatever the shell running pytest has."""
    for name in [name for name in os.environ if name.startswith("MYSQL_")]:
        monkeypatch.delenv(name)


def refusal(monkeypatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    return str(stopped.value.code)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MYSQL_PORT": "abc"}, "MYSQL_PORT"),
        ({"MYSQL_REQUEST_TIMEOUT": "0.05"}, "MYSQL_REQUEST_TIMEOUT"),  # would end before it began
        ({"MYSQL_SSL_MODE": "PREFERRED"}, "MYSQL_SSL_MODE"),  # may fall back to plain text
        ({"MYSQL_SSL_MODE": "VERIFY_CA"}, "MYSQL_SSL_CA"),  # nothing to verify with
        ({"MYSQL_SSL_MODE": "REQUIRED", "MYSQL_SSL_CA": __file__}, "MYSQL_SSL_CA"),  # would verify nothing
        ({"MYSQL_SSL_MODE": "VERIFY_IDENTITY", "MYSQL_SSL_CA": "/no/such/ca.pem"}, "MYSQL_SSL_CA"),
        ({"MYSQL_SSL_MODE": "VERIFY_CA", "MYSQL_SSL_CA": "/"}, "MYSQL_SSL_CA"),  # a directory
        ({"MYSQL_REQUEST_TIMEOUT": "40"}, "MYSQL_SOCKET_TIMEOUT"),  # 30: the driver would time out first
    ],
)
def test_a_bad_setting_is_refused_in_one_line_naming_the_variable(monkeypatch, env, variable):
    message = refusal(monkeypatch, **env)
    assert message.startswith(f"user-api: invalid setting {variable}: "), message
    assert "\n" not in message


def test_the_old_name_of_the_request_timeout_is_refused_naming_the_new_one(monkeypatch):
    message = refusal(monkeypatch, MYSQL_READ_TIMEOUT="2")
    assert "MYSQL_READ_TIMEOUT" in message and "MYSQL_REQUEST_TIMEOUT" in message


@pytest.mark.parametrize("variable", ["MYSQL_PORT", "MYSQL_SSL_CA"])
def test_the_rejected_value_is_not_echoed(monkeypatch, variable):
    # A mistyped variable may hold a secret; the message names it but never repeats its value.
    message = refusal(monkeypatch, MYSQL_SSL_MODE="VERIFY_CA", **{variable: DB_PASSWORD})
    assert variable in message and DB_PASSWORD not in message


def test_a_bad_setting_stops_the_process_with_that_line_and_no_traceback():
    # Imported as uvicorn imports it, with only this environment.
    result = subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=API_DIR,
        env={"PATH": "/usr/bin:/bin", "MYSQL_PORT": "abc"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("user-api: invalid setting MYSQL_PORT: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
