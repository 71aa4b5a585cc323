"""userapi.config and the start-up path in main.py: settings from the environment, and bad values."""

import os
import subprocess
import sys

import pytest

from devstack.api import API_DIR
from support.canary import DB_PASSWORD
from userapi.config import Settings, SettingsError, load_settings
from userapi.database import connect_arguments, connection_url


def start_with(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import main the way uvicorn does, with only the given environment."""
    return subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=API_DIR,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture(autouse=True)
def no_mysql_settings(monkeypatch):
    """Each test sees only the MYSQL_* variables it sets, whatever the shell running pytest has."""
    for name in [name for name in os.environ if name.startswith("MYSQL_")]:
        monkeypatch.delenv(name)


def test_defaults_point_at_the_sidecar():
    settings = load_settings()
    assert (settings.host, settings.port, settings.user, settings.database) == (
        "127.0.0.1",
        3306,
        "root",
        "Main",
    )


def test_every_setting_comes_from_its_environment_variable(monkeypatch):
    values = {
        "HOST": "10.0.0.9",
        "PORT": "3307",
        "USER": "reader",
        "PASSWORD": "pw",
        "DATABASE": "Other",
        "CONNECT_TIMEOUT": "3",
        "READ_TIMEOUT": "4",
        "SOCKET_TIMEOUT": "40",
        "POOL_SIZE": "7",
        "POOL_TIMEOUT": "0.25",
        "POOL_MAX_IDLE": "90",
    }
    for name, value in values.items():
        monkeypatch.setenv(f"MYSQL_{name}", value)
    settings = load_settings()
    assert settings.model_dump(mode="json") | {"password": settings.password.get_secret_value()} == {
        "host": "10.0.0.9",
        "port": 3307,
        "user": "reader",
        "password": "pw",
        "database": "Other",
        "connect_timeout": 3,
        "read_timeout": 4,
        "socket_timeout": 40,
        "pool_size": 7,
        "pool_timeout": 0.25,
        "pool_max_idle": 90,
    }


def test_the_request_deadline_and_the_drivers_socket_timeouts_are_separate_settings():
    arguments = connect_arguments(Settings(read_timeout=3, socket_timeout=40, connect_timeout=5))
    assert (arguments["read_timeout"], arguments["write_timeout"]) == (40, 40)
    assert arguments["connect_timeout"] == 5
    # The server gives up a lock wait when the request's deadline has.
    assert arguments["init_command"] == "SET SESSION lock_wait_timeout = 3"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MYSQL_PORT", "abc"),
        ("MYSQL_PORT", "70000"),
        ("MYSQL_POOL_SIZE", "0"),
        ("MYSQL_READ_TIMEOUT", "soon"),
        ("MYSQL_READ_TIMEOUT", "0.05"),  # would end every deadline before it began
        ("MYSQL_SOCKET_TIMEOUT", "0"),
        ("MYSQL_POOL_MAX_IDLE", "-1"),
        ("MYSQL_HOST", ""),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(f"invalid setting {variable}: ")
    assert "\n" not in str(error.value)


def test_a_bad_value_stops_start_up_with_one_line_and_no_traceback():
    # The start-up path is the same for every bad value (main.py catches SettingsError), so one
    # process start shows it; the values themselves are checked in-process above.
    result = start_with({"MYSQL_PORT": "abc"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()  # one line: no traceback
    assert len(lines) == 1 and lines[0].startswith("user-api: invalid setting MYSQL_PORT: "), result.stderr


def test_the_rejected_value_is_not_echoed(monkeypatch):
    # A mistyped variable may hold a secret; the message names it but never repeats its value.
    monkeypatch.setenv("MYSQL_PORT", DB_PASSWORD)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "MYSQL_PORT" in str(error.value)
    assert DB_PASSWORD not in str(error.value)


def test_the_password_stays_out_of_repr_and_the_rendered_url():
    settings = Settings(password=DB_PASSWORD)
    assert DB_PASSWORD not in repr(settings)
    assert DB_PASSWORD not in str(settings)
    assert DB_PASSWORD not in repr(connection_url(settings))


def test_a_password_with_url_characters_survives_the_url_intact():
    url = connection_url(Settings(password=DB_PASSWORD, host="127.0.0.1", port=3306))
    assert url.password == DB_PASSWORD
    assert (url.host, url.port, url.database) == ("127.0.0.1", 3306, "Main")


def test_the_server_accepts_that_password(client):
    # The session's server has DB_PASSWORD, with "@", "/" and ":" in it: a 200 means it got through.
    assert client.get("/users/1").status_code == 200
