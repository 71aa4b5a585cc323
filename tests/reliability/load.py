"""A bounded HTTP load generator for the reliability tests: real requests to 127.0.0.1, counted outcomes.

It runs its own event loop in a background thread, so a test can kill, lock or signal things meanwhile.
Every loop stops by itself: after `total` requests, or when `stop` is set, or after `max_seconds`.
"""

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class Outcome:
    started: float
    finished: float
    result: int | str  # an HTTP status, or the name of the transport error

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass
class Load:
    base_url: str
    path_for: Callable[[int], str]
    concurrency: int
    total: int | None = None
    max_seconds: float = 120
    fresh_connections: bool = False  # "Connection: close": each request on a new connection
    timeout: float = 10
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> "Load":
        self._thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        self._thread.start()
        return self

    def wait(self) -> "Load":
        self._thread.join(self.max_seconds + self.timeout + 10)
        assert not self._thread.is_alive(), "the load generator did not stop"
        return self

    def results(self) -> Counter:
        return Counter(outcome.result for outcome in self.outcomes)

    async def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        issued = 0
        headers = {"Connection": "close"} if self.fresh_connections else {}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=limits, headers=headers
        ) as client:

            async def worker() -> None:
                nonlocal issued
                while not self.stop.is_set() and time.monotonic() < deadline:
                    if self.total is not None and issued >= self.total:
                        return
                    number, issued = issued, issued + 1
                    started = time.monotonic()
                    try:
                        result: int | str = (await client.get(self.path_for(number))).status_code
                    except httpx.HTTPError as error:
                        result = type(error).__name__
                    self.outcomes.append(Outcome(started, time.monotonic(), result))

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def users_and_user(number: int) -> str:
    """Alternate /users and /users/1..100."""
    return "/users" if number % 2 == 0 else f"/users/{number % 100 + 1}"
