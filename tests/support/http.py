"""HTTP to the servers and containers the tests start on 127.0.0.1: one-off requests, and waiting for an
endpoint.

httpx.get() builds a new client each call, and a client loads the CA bundle into a new TLS context
(about 60 ms of CPU here): a 0.1 s poll made that way keeps half a core busy. These helpers share one
TLS context and still open a connection of their own per request.
"""

import functools
import ssl
import time

import httpx

from devstack.wait import wait_until


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def http_client(**options) -> httpx.Client:
    """An httpx.Client (options as httpx's), without the cost of a TLS context of its own."""
    return httpx.Client(verify=_tls(), **options)


def http_get(url: str, timeout: float = 10) -> httpx.Response:
    """One GET on a connection of its own (a 10 s timeout unless told otherwise)."""
    with http_client(timeout=timeout) as session:
        return session.get(url)


def wait_for_status(url: str, status: int = 200, within: float = 30, interval: float = 0.1) -> float:
    """Poll url until it answers with status; return the seconds it took."""
    started = time.monotonic()
    wait_until(
        lambda: http_get(url, timeout=3).status_code == status,
        within,
        f"{url} answers {status}",
        interval=interval,
        ignore=(httpx.TransportError,),
    )
    return time.monotonic() - started
