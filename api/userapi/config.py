"""Settings, read once from the environment (the names every manifest and compose file use)."""

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MYSQL_"


class SettingsError(ValueError):
    """A setting from the environment is invalid; the message names the variable, never its value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # 127.0.0.1, not "localhost": mysqlclient turns "localhost" into the Unix socket, which a sidecar
    # in another container does not share.
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(3306, ge=1, le=65535)
    user: str = Field("root", min_length=1)
    # SecretStr keeps the password out of repr(), logs and tracebacks.
    password: SecretStr = SecretStr("")
    database: str = Field("Main", min_length=1)

    # Seconds, each setting one thing:
    # - read_timeout: each request's whole database deadline (waiting for a connection, connecting and
    #   the query). The server's lock_wait_timeout follows it, so a query waiting on a table lock ends on
    #   the server too. (The name is kept from when it also set the driver's socket timeouts.)
    # - connect_timeout: each read of a connection attempt on its worker thread (TCP, handshake,
    #   authentication); the driver restarts it with every byte and takes whole seconds.
    # - socket_timeout: the driver's read and write timeouts, which restart with every byte. Reads that
    #   could wait run on a worker thread and end at the request's deadline anyway; this only bounds a
    #   stuck thread.
    # At least 0.1: the deadline ends 50 ms early (database.RESPONSE_MARGIN_SECONDS), so a smaller value
    # would fail every query while /ready, with its own deadline, kept the Pod in rotation.
    read_timeout: float = Field(2, ge=0.1, le=60)
    connect_timeout: int = Field(2, ge=1, le=60)
    socket_timeout: int = Field(30, ge=1, le=3600)

    # At most pool_size connections at once, counting those being opened, idle and in use; a request
    # that cannot get one within pool_timeout gets a 503. A connection idle for longer than
    # pool_max_idle is replaced rather than used (NAT and firewall entries expire on quiet connections).
    pool_size: int = Field(5, ge=1, le=100)
    pool_timeout: float = Field(0.5, gt=0, le=60)
    pool_max_idle: float = Field(60, gt=0, le=86400)


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings() -> Settings:
    """Read the settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        # include_input=False: the rejected value may be the password.
        problems = [
            f"{env_name(str(detail['loc'][0]))}: {detail['msg']}"
            for detail in error.errors(include_input=False, include_url=False)
        ]
        raise SettingsError("invalid setting " + "; ".join(problems)) from None
