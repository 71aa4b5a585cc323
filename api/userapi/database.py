"""The connection pool, and the worker threads that use it so that driver calls never block the event loop.

mysqlclient is a blocking C driver. Each database call runs on a small dedicated thread pool, one
thread per pooled connection. Before a request may use a thread it takes a slot; waiting for a slot is
bounded by the pool timeout, so a pile-up behind a locked table turns into quick 503s rather than a
growing queue.
"""

import asyncio
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, create_engine, exc
from sqlalchemy.engine import URL, Engine

from .config import Settings

log = logging.getLogger("userapi.database")

Result = TypeVar("Result")


class DatabaseUnavailable(Exception):
    """The database could not answer in time; the message is safe to show to a client."""


def connection_url(settings: Settings) -> URL:
    # URL.create quotes each part, so a password with "@", "/" or ":" stays one password.
    return URL.create(
        "mysql+mysqldb",
        username=settings.user,
        password=settings.password.get_secret_value(),
        host=settings.host,
        port=settings.port,
        database=settings.database,
    )


def create_pool(settings: Settings) -> Engine:
    timeout = settings.read_timeout
    return create_engine(
        connection_url(settings),
        pool_size=settings.pool_size,
        max_overflow=0,
        pool_timeout=settings.pool_timeout,
        # A pooled connection may have died with a MySQL restart; a ping on checkout replaces it
        # before the query, so the client never sees the stale connection.
        pool_pre_ping=True,
        # Read-only SELECTs: autocommit means there is no transaction to roll back when a
        # connection returns to the pool, which saves a round trip per request.
        isolation_level="AUTOCOMMIT",
        pool_reset_on_return=None,
        connect_args={
            "connect_timeout": settings.connect_timeout,
            "read_timeout": timeout,
            "write_timeout": timeout,
            # A query waiting on a table lock gives up on the server side, which keeps the
            # connection usable, instead of tripping the client's read timeout, which kills it.
            "init_command": f"SET SESSION lock_wait_timeout = {math.ceil(timeout)}",
            "charset": "utf8mb4",
        },
    )


class Database:
    """Runs blocking work against pooled connections on worker threads, with deadlines."""

    def __init__(self, settings: Settings) -> None:
        self._engine = create_pool(settings)
        self._workers = ThreadPoolExecutor(max_workers=settings.pool_size, thread_name_prefix="mysql")
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._slot_timeout = settings.pool_timeout
        self._query_timeout = float(settings.read_timeout)

    async def run(self, work: Callable[[Connection], Result], timeout: float | None = None) -> Result:
        """Run work(connection) on a worker thread; raise DatabaseUnavailable on any failure or timeout."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self._slot_timeout)
        except TimeoutError:
            raise DatabaseUnavailable("Database busy") from None
        task = asyncio.get_running_loop().run_in_executor(self._workers, self._with_connection, work)
        # The slot is freed when the thread is done, not when the client stops waiting, so the
        # number of threads (and connections) in use never exceeds the pool.
        task.add_done_callback(lambda _: self._slots.release())
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout or self._query_timeout)
        except TimeoutError:
            log.warning("database call exceeded its deadline")
            raise DatabaseUnavailable("Database timed out") from None

    def _with_connection(self, work: Callable[[Connection], Result]) -> Result:
        try:
            with self._engine.connect() as connection:
                return work(connection)
        except exc.TimeoutError:
            raise DatabaseUnavailable("Database busy") from None
        except exc.DBAPIError as error:
            log.warning("database error: %s %s", type(error.orig).__name__, error.orig.args[:1])
            raise DatabaseUnavailable("Database unavailable") from None

    def close(self) -> None:
        # Queued work is dropped; a thread still inside a query ends within the read timeout.
        self._workers.shutdown(wait=False, cancel_futures=True)
        self._engine.dispose()
