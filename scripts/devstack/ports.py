"""Loopback port helpers."""

import socket

from .wait import wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, timeout: float, alive=None) -> None:
    """Wait until something accepts connections on 127.0.0.1:port (see wait_until for the errors)."""
    wait_until(lambda: port_in_use(port), timeout, f"something listens on 127.0.0.1:{port}", alive=alive)
