"""Waiting for an HTTP endpoint, for tests that start servers and containers."""

import time

import httpx

from devstack.wait import wait_until


def wait_for_status(url: str, status: int = 200, within: float = 30, interval: float = 0.1) -> float:
    """Poll url until it answers with status; return the seconds it took."""
    started = time.monotonic()
    wait_until(
        lambda: httpx.get(url, timeout=3).status_code == status,
        within,
        f"{url} answers {status}",
        interval=interval,
        ignore=(httpx.TransportError,),
    )
    return time.monotonic() - started
