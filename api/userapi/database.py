"""MySQL access on the event loop, without a thread hand-off per query.

mysqlclient is a fast C driver whose ordinary calls block. It can also send a query and read its result
as two separate calls; between them the event loop watches the connection's socket. So a query that
waits on a table lock, or on a slow server, costs the loop nothing, and a fast query costs no thread
switch.

Each call has one deadline, counted from the moment it asks: waiting for a pool slot, opening a
connection and the query itself all fit inside it, and no query is sent once it has passed. Two steps
still block something, each within a bound:
- opening a connection (TCP, handshake, authentication) blocks a worker thread. The request stops
  waiting at its deadline; the thread gives up within connect_timeout, and a connection that arrives
  late is still clean, so the pool keeps it for the next request instead of connecting again.
- reading a result blocks the loop, once its first bytes have arrived. Every statement the API runs has
  a LIMIT (models.MAX_PAGE_SIZE + 1 rows at most, each row under 1.3 KB), so what is read is bounded in
  size; over the Pod's loopback it comes in at once (the seed's 100 rows are about 8 KB). Only a server
  that stalls halfway through an answer can hold the loop, and the driver's read timeout ends each
  stalled read.

Connections come from one pool, created once. A request first takes a slot (waiting at most
pool_timeout, and never past its deadline), so a pile-up behind a locked table turns into quick 503s
instead of a growing queue.
"""

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import MySQLdb
from MySQLdb.connections import Connection
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
# The database deadline ends this much before the caller's time is up, so that the 503 itself (HTTP
# included) leaves within the configured time.
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

    def render(self, connection: Connection, values: Mapping[str, Any]) -> bytes:
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
        # One statement per query: the server refuses a second one, so no answer carries extra results.
        "multi_statements": False,
        # A query waiting on a table lock ends on the server side too, no later than the request does.
        "init_command": f"SET SESSION lock_wait_timeout = {math.ceil(settings.read_timeout)}",
    }


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(QueryTimeout())


def _close(connection: Connection) -> None:
    with contextlib.suppress(MySQLdb.Error):
        connection.close()


async def _query(
    loop: asyncio.AbstractEventLoop, connection: Connection, sql: bytes, deadline: float
) -> Sequence[Row]:
    connection.send_query(sql)
    answered = loop.create_future()
    descriptor = connection.fileno()
    loop.add_reader(descriptor, _resolve, answered)
    timer = loop.call_at(deadline, _expire, answered)
    try:
        await answered
    finally:
        loop.remove_reader(descriptor)
        timer.cancel()
    # The first bytes are here; the rest of a bounded answer follows (see the module docstring).
    connection.read_query_result()
    result = connection.store_result()
    rows = result.fetch_row(maxrows=0) if result is not None else ()
    if connection.next_result() != -1:
        # A further result set would be read by the next request on this connection ("out of sync").
        raise MySQLdb.ProgrammingError("the statement returned more than one result set")
    return rows


class Database:
    def __init__(self, settings: Settings, connect: Callable[..., Connection] = MySQLdb.connect) -> None:
        self._connect = partial(connect, **connect_arguments(settings))
        self._idle: list[Connection] = []
        self._pool_size = settings.pool_size
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._slot_timeout = settings.pool_timeout
        self._query_timeout = float(settings.read_timeout)
        self._connector = ThreadPoolExecutor(
            max_workers=settings.pool_size, thread_name_prefix="mysql-connect"
        )
        self._closed = False

    async def fetch(
        self, statement: Statement, values: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Sequence[Row]:
        """Run one statement within `timeout` seconds (default: the read timeout), pool wait included.

        Raises DatabaseUnavailable on any failure, and when the deadline passes.
        """
        loop = asyncio.get_running_loop()
        seconds = self._query_timeout if timeout is None else timeout
        deadline = loop.time() + seconds - RESPONSE_MARGIN_SECONDS
        await self._take_slot(loop, deadline)
        try:
            return await self._fetch(loop, statement, values or {}, deadline)
        except QueryTimeout:
            log.warning("database call exceeded its deadline")
            raise DatabaseUnavailable("Database timed out") from None
        except MySQLdb.Error as error:
            log.warning("database error: %s %s", type(error).__name__, error.args[:1])
            raise DatabaseUnavailable("Database unavailable") from None
        finally:
            self._slots.release()

    async def _take_slot(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free: no timer needed
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), min(self._slot_timeout, deadline - loop.time()))
        except TimeoutError:
            raise DatabaseUnavailable("Database busy") from None

    async def _fetch(
        self,
        loop: asyncio.AbstractEventLoop,
        statement: Statement,
        values: Mapping[str, Any],
        deadline: float,
    ) -> Sequence[Row]:
        if self._idle:
            try:
                return await self._use(loop, self._idle.pop(), statement, values, deadline)
            except MySQLdb.OperationalError as error:
                if error.args[0] not in CONNECTION_LOST:
                    raise
                # A pooled connection died with a MySQL restart; so did the other idle ones. Replace
                # them and try once more, so the client never sees the stale connection.
                self._discard_idle()
        return await self._use(loop, await self._open(loop, deadline), statement, values, deadline)

    async def _use(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: Connection,
        statement: Statement,
        values: Mapping[str, Any],
        deadline: float,
    ) -> Sequence[Row]:
        if loop.time() >= deadline:
            self._keep(connection)  # nothing was sent on it: as good as before
            raise QueryTimeout
        try:
            rows = await _query(loop, connection, statement.render(connection, values), deadline)
        except BaseException:
            _close(connection)  # a query may still be in flight on it: never reuse it
            raise
        self._keep(connection)
        return rows

    async def _open(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Connection:
        if loop.time() >= deadline:
            raise QueryTimeout
        attempt = self._connector.submit(self._connect)
        opening = asyncio.wrap_future(attempt, loop=loop)
        try:
            async with asyncio.timeout_at(deadline):
                # shield: giving up must not cancel the wrapper, or a late connection would be lost.
                return await asyncio.shield(opening)
        except TimeoutError:
            self._give_up(attempt, opening, keep_late_connection=True)
            raise QueryTimeout from None
        except asyncio.CancelledError:
            self._give_up(attempt, opening, keep_late_connection=False)
            raise

    def _give_up(self, attempt: Future, opening: asyncio.Future, keep_late_connection: bool) -> None:
        """The request no longer waits for its connection attempt; settle the attempt's outcome."""
        attempt.cancel()  # only succeeds while it is still queued: then no attempt is made at all

        def settle(opened: asyncio.Future) -> None:
            if opened.cancelled() or opened.exception() is not None:
                return
            if keep_late_connection:
                self._keep(opened.result())
            else:
                _close(opened.result())

        opening.add_done_callback(settle)

    def _keep(self, connection: Connection) -> None:
        """Return a clean connection to the pool, unless the pool is closed or already full."""
        if self._closed or len(self._idle) >= self._pool_size:
            _close(connection)
        else:
            self._idle.append(connection)

    def _discard_idle(self) -> None:
        while self._idle:
            _close(self._idle.pop())

    def close(self) -> None:
        self._closed = True
        self._discard_idle()
        # Queued connection attempts are dropped; one in progress ends within the connect timeout, and
        # its connection is closed when it arrives.
        self._connector.shutdown(wait=False, cancel_futures=True)
