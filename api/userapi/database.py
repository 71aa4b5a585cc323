"""MySQL access that never blocks the event loop, without a thread hand-off per query.

mysqlclient is a fast C driver whose ordinary calls block. It can also send a query and read its result
as two separate calls; between them the event loop watches the connection's socket. So a query that
waits on a table lock, or on a slow server, costs the loop nothing, and a fast query costs no thread
switch. What still blocks, and is bounded:
- opening a connection (TCP, handshake, authentication) runs on a worker thread, within connect_timeout;
- reading a result happens once its first bytes have arrived. Our largest result (100 rows, ~8 KB) comes
  in one piece over the Pod's loopback; the driver's read timeout bounds the rare wait for the rest.

Connections come from one pool, created once. A request first takes a slot (waiting at most
pool_timeout), so a pile-up behind a locked table turns into quick 503s instead of a growing queue.
"""

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import MySQLdb
from sqlalchemy.dialects.mysql import mysqldb
from sqlalchemy.engine import URL
from sqlalchemy.sql import ClauseElement

from .config import Settings

log = logging.getLogger("userapi.database")

DIALECT = mysqldb.dialect()
# Errors that mean "this connection is dead" (server gone away, lost during query, killed, idle
# timeout, shut down): the usual state of pooled connections after a MySQL restart.
CONNECTION_LOST = {2006, 2013, 2055, 4031, 1927, 1053}

Row = tuple[Any, ...]
# The database deadline ends this much before the read timeout, so that the 503 itself (HTTP included)
# leaves within the configured time.
RESPONSE_MARGIN_SECONDS = 0.05


class DatabaseUnavailable(Exception):
    """The database could not answer in time; the message is safe to show to a client."""


class QueryTimeout(Exception):
    pass


@dataclass(frozen=True)
class Statement:
    """SQL compiled once by SQLAlchemy for mysqlclient, with its parameters in order."""

    sql: bytes
    parameters: tuple[str, ...]

    @classmethod
    def compile(cls, statement: ClauseElement) -> "Statement":
        compiled = statement.compile(dialect=DIALECT)
        return cls(str(compiled).encode(), tuple(compiled.positiontup or ()))

    def render(self, connection: MySQLdb.Connection, values: dict[str, Any]) -> bytes:
        # The driver's own escaping, exactly as its cursor.execute() does.
        return self.sql % tuple(connection.literal(values[name]) for name in self.parameters)


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


def connect_arguments(settings: Settings) -> dict[str, Any]:
    _, arguments = DIALECT.create_connect_args(connection_url(settings))
    return {
        **arguments,
        "connect_timeout": settings.connect_timeout,
        "read_timeout": settings.read_timeout,
        "write_timeout": settings.read_timeout,
        "charset": "utf8mb4",
        # Read-only SELECTs: nothing to commit or roll back between requests.
        "autocommit": True,
        # A query waiting on a table lock ends on the server side too, no later than the request does.
        "init_command": f"SET SESSION lock_wait_timeout = {math.ceil(settings.read_timeout)}",
    }


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(QueryTimeout())


def _close(connection: MySQLdb.Connection) -> None:
    with contextlib.suppress(MySQLdb.Error):
        connection.close()


class Database:
    def __init__(self, settings: Settings) -> None:
        self._arguments = connect_arguments(settings)
        self._idle: list[MySQLdb.Connection] = []
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._slot_timeout = settings.pool_timeout
        self._query_timeout = float(settings.read_timeout)
        self._connector = ThreadPoolExecutor(
            max_workers=settings.pool_size, thread_name_prefix="mysql-connect"
        )

    async def fetch(self, statement: Statement, timeout: float | None = None, **values: Any) -> Sequence[Row]:
        """Run one statement; raise DatabaseUnavailable on any failure or when the deadline passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or self._query_timeout) - RESPONSE_MARGIN_SECONDS
        await self._take_slot()
        try:
            return await self._fetch(loop, statement, values, deadline)
        except QueryTimeout:
            log.warning("database call exceeded its deadline")
            raise DatabaseUnavailable("Database timed out") from None
        except MySQLdb.Error as error:
            log.warning("database error: %s %s", type(error).__name__, error.args[:1])
            raise DatabaseUnavailable("Database unavailable") from None
        finally:
            self._slots.release()

    async def _take_slot(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free: no timer needed
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), self._slot_timeout)
        except TimeoutError:
            raise DatabaseUnavailable("Database busy") from None

    async def _fetch(self, loop, statement: Statement, values: dict, deadline: float) -> Sequence[Row]:
        if self._idle:
            connection = self._idle.pop()
            try:
                rows = await self._run(loop, connection, statement, values, deadline)
            except MySQLdb.OperationalError as error:
                _close(connection)
                if error.args[0] not in CONNECTION_LOST:
                    raise
                # A pooled connection died with a MySQL restart; so did the other idle ones. Replace
                # them and try once more, so the client never sees the stale connection.
                self._discard_idle()
            except BaseException:
                _close(connection)
                raise
            else:
                self._idle.append(connection)
                return rows
        connection = await loop.run_in_executor(self._connector, partial(MySQLdb.connect, **self._arguments))
        try:
            rows = await self._run(loop, connection, statement, values, deadline)
        except BaseException:
            _close(connection)  # a query may still be in flight on it: never reuse it
            raise
        self._idle.append(connection)
        return rows

    @staticmethod
    async def _run(loop, connection, statement: Statement, values: dict, deadline: float) -> Sequence[Row]:
        connection.send_query(statement.render(connection, values))
        answered = loop.create_future()
        descriptor = connection.fileno()
        loop.add_reader(descriptor, _resolve, answered)
        timer = loop.call_at(deadline, _expire, answered)
        try:
            await answered
        finally:
            loop.remove_reader(descriptor)
            timer.cancel()
        connection.read_query_result()
        result = connection.store_result()
        return result.fetch_row(maxrows=0) if result is not None else ()

    def _discard_idle(self) -> None:
        while self._idle:
            _close(self._idle.pop())

    def close(self) -> None:
        self._discard_idle()
        # Queued connection attempts are dropped; one in progress ends within the connect timeout.
        self._connector.shutdown(wait=False, cancel_futures=True)
