"""The one way the local stand-ins and the tests wait: poll a condition until it holds, with a deadline."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ExitedWhileWaiting(RuntimeError):
    """The process that was to bring the condition about has exited."""


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    what: str,
    interval: float = 0.05,
    ignore: tuple[type[BaseException], ...] = (),
    alive: Callable[[], bool] | None = None,
) -> T:
    """Return condition()'s first truthy value.

    Raises TimeoutError naming `what` once `timeout` seconds have passed, and ExitedWhileWaiting as soon
    as `alive()` says the process it waits on has gone. Exceptions of the `ignore` types count as "not
    yet". The deadline catches a hang only: a slow machine makes the wait longer, never wrong.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except ignore:
            result = None
        if result:
            return result
        if alive is not None and not alive():
            raise ExitedWhileWaiting(f"the process exited before {what}")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)
