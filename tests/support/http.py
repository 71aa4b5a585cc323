"""Waiting for an HTTP endpoint, for tests that start servers and containers."""

import time

import httpx


def wait_for_status(url: str, status: int = 200, within: float = 30, interval: float = 0.2) -> float:
    """Poll url until it answers with status; return the seconds it took. Fails after `within` seconds."""
    started = time.monotonic()
    while True:
        try:
            if httpx.get(url, timeout=3).status_code == status:
                return time.monotonic() - started
        except httpx.TransportError:
            pass  # not listening yet
        elapsed = time.monotonic() - started
        assert elapsed < within, f"{url} did not answer {status} within {within} s"
        time.sleep(interval)
