"""The connection pool: MySQL access that never holds the event loop, and never hands an answer that is
already there to a thread.

Why this one module is dense: it serves 4.5x the requests/s of the textbook design (`def` routes in
FastAPI's thread pool over SQLAlchemy's QueuePool with pre-ping) on /users and 2.9x on /users/{id}, at a
p99 of 28 ms against 242 ms and 19 ms against 111 ms (scripts/bench.py, 2 cores, doc/PERFORMANCE.md).
main.py is the app; this is the one import a reader may skip.

mysqlclient is a fast C driver whose ordinary calls block. It can also send a query and read its answer
as two separate calls, and between them the event loop watches the connection's socket. When the socket
becomes readable, the answer may be whole (always, on a sidecar over loopback) or only begun (a slow
link, a proxy, a stalled server), and the driver's read would then block until the last byte: its read
timeout restarts with every byte, so a dripping answer could hold the loop without bound. So before
reading, the loop peeks at what the kernel holds (recv with MSG_PEEK on a duplicate of the socket, which
leaves the bytes where they are) and walks the MySQL packets (`answer_is_complete`):
- a whole answer is read on the loop: nothing is left to wait for, and no thread is involved;
- anything else is read on a worker thread, which the request waits for until its deadline. At the
  deadline the socket is shut down, which ends the thread's read at once; the connection is closed when
  the thread has returned, and never reused. Over TLS every answer is read this way: a peek sees only
  encrypted bytes.

Each call has one deadline, counted from the moment it asks: waiting for a connection, opening one and
the query all fit inside it, and no query is sent once it has passed. The server stops the query at
about the same time (each session's max_execution_time on MySQL, max_statement_time on MariaDB), so a
slow SELECT does not go on running after its 503. Opening a connection (TCP, TLS, handshake,
authentication) runs on a worker thread too, each of its reads bounded by the connect timeout (the
driver restarts it with every byte, so a handshake that drips holds its thread and its place longer,
never the loop); a request stops waiting for it at its deadline, and a connection that arrives late goes
to the next request.

One bound for the pool: connections being opened, idle, in use, or waiting for their reading thread to
end are counted together and never exceed pool_size, so there are never more worker threads than that
either. A request that finds no idle connection and no room waits, at most pool_timeout and never past
its deadline, for a connection to be handed over or for room to open one; if neither comes, it gets
"busy" (or "timed out", when its deadline ended the wait). An idle connection unused for longer than
pool_max_idle is closed and replaced rather than used: what kills a quiet connection (a NAT or conntrack
entry expiring, the server's wait_timeout) counts idle time, while one in steady use is kept alive by its
own traffic.

When the server has gone away for one connection (it closed the socket, or said so: SERVER_GONE), it has
for every idle one too, as after a MySQL restart: all of them are closed, and the query is tried once
more on a fresh connection if the failed one had waited in the pool (a connection opened for this very
request failing that way means the server is gone for good). A timeout or any other error closes only
its own connection.
"""

import asyncio
import contextlib
import logging
import math
import os
import socket
import struct
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import MySQLdb
from MySQLdb.connections import Connection
from MySQLdb.constants import CLIENT
from sqlalchemy.dialects.mysql import mysqldb
from sqlalchemy.engine import URL
from sqlalchemy.sql import ClauseElement

log = logging.getLogger("database")

DIALECT = mysqldb.dialect()
# What SQLAlchemy's MySQL dialect counts as a disconnect (MySQLDialect.is_disconnect), less what cannot
# be one here: the server has gone away (2006), the connection was lost mid-answer (2013; 2055 is
# Oracle's client library's form of it), MySQL 8 closed an inactive connection (4031), MariaDB killed it
# (1927); and, beyond SQLAlchemy's list, the server is shutting down (1053). Left out: 2014 (commands out
# of sync) is a misuse of one connection, which this pool never makes (no query is sent while an answer
# is unread, and a connection whose answer went unread is closed); 2045 is a failure of Windows' shared
# memory transport, never used over TCP; and the "(0, '')" InterfaceError of a closed connection cannot
# occur, since a closed connection is never used again.
SERVER_GONE = {2006, 2013, 2055, 4031, 1927, 1053}
# The server stopped the query at the session's time limit (MySQL 8: 3024, MariaDB: 1969).
STATEMENT_TIMEOUT = {3024, 1969}

Row = tuple[Any, ...]
# The database deadline ends this much before the caller's time is up, so that the 503 itself (HTTP
# included) leaves within the configured time.
RESPONSE_MARGIN_SECONDS = 0.05
# How much of an answer the loop can see at once. Larger answers (a 1000-row page of long rows) are
# read on a worker thread; the seed's 100 rows are about 4 KB.
PEEK_BYTES = 128 * 1024

# The MySQL client/server protocol: each packet is a 3-byte little-endian payload length, a sequence
# number, then the payload. A payload of exactly MAX_PAYLOAD bytes continues in the next packet.
HEADER_BYTES = 4
MAX_PAYLOAD = 0xFFFFFF
PACKET_START = struct.Struct("<IB")  # length and sequence number (masked apart), first payload byte
OK, LOCAL_INFILE, EOF, ERR = 0x00, 0xFB, 0xFE, 0xFF
LENGTH_WIDTHS = {0xFC: 2, 0xFD: 3, 0xFE: 8}  # of a length-encoded integer, after its first byte
PROGRESS_REPORT = 0xFFFF  # an ERR packet with this code is a MariaDB progress report, not the end
SERVER_MORE_RESULTS_EXIST = 0x0008
# Capabilities that change the framing: EOF packets replaced by OK packets (Oracle's client library
# negotiates it; MariaDB's never does), optional metadata, and compressed or TLS bytes that a peek cannot
# read. MySQLdb.constants.CLIENT lacks all but the last two.
CLIENT_DEPRECATE_EOF = 1 << 24
CLIENT_OPTIONAL_RESULTSET_METADATA = 1 << 25
CLIENT_ZSTD_COMPRESSION = 1 << 26
UNREADABLE_FRAMING = (
    CLIENT_OPTIONAL_RESULTSET_METADATA | CLIENT_ZSTD_COMPRESSION | CLIENT.COMPRESS | CLIENT.SSL
)


class DatabaseUnavailable(Exception):
    """The database could not answer in time; the message is safe to show to a client."""


class QueryTimeout(Exception):
    pass


class PoolBusy(Exception):
    pass


class ServerGone(Exception):
    pass


@dataclass(frozen=True, eq=False)
class Statement:
    """SQL compiled once by SQLAlchemy for mysqlclient: its parameters in order, and the values that the
    statement itself holds (a literal in a where clause, a list given to in_())."""

    sql: bytes
    parameters: tuple[str, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def compile(cls, statement: ClauseElement) -> "Statement":
        """Raises ValueError for a parameter whose value changes the SQL text and is not known yet."""
        compiled = statement.compile(dialect=DIALECT)
        open_ended = compiled.post_compile_params | compiled.literal_execute_params
        if names := sorted(parameter.key for parameter in open_ended if parameter.required):
            raise ValueError(
                f"Statement.compile: the SQL of parameter(s) {', '.join(names)} depends on the value "
                "(an expanding IN or a literal_execute parameter), which this pool does not render per "
                "request. Put the values in the statement (column.in_([1, 2])), or compile one statement "
                "per list length with a bindparam() for each item."
            )
        # Values known now (a literal, a list given to in_()) become parameters of their own: IN (%s, %s).
        required = {name for parameter, name in compiled.bind_names.items() if parameter.required}
        expanded = compiled.construct_expanded_state(dict.fromkeys(required))
        fixed = {name: value for name, value in expanded.parameters.items() if name not in required}
        return cls(expanded.statement.encode(), tuple(expanded.positiontup or ()), fixed)

    def render(self, connection: Connection, values: Mapping[str, Any]) -> bytes:
        # The driver's own escaping, exactly as its cursor.execute() does.
        given = {**self.fixed, **values}
        return self.sql % tuple(connection.literal(given[name]) for name in self.parameters)


def connect_arguments(
    url: URL, connect_timeout: int, socket_timeout: int, ssl_mode: str, ssl_ca: str | None
) -> dict[str, Any]:
    _, arguments = DIALECT.create_connect_args(url)
    # mysqlclient on MariaDB's client library: REQUIRED encrypts; VERIFY_CA and VERIFY_IDENTITY also
    # check the server's certificate against the CA, and its host name as well (the library checks both).
    tls = {} if ssl_mode == "DISABLED" else {"ssl_mode": ssl_mode}
    if ssl_ca:
        tls["ssl"] = {"ca": ssl_ca}
    return {
        **arguments,
        **tls,
        "connect_timeout": connect_timeout,
        "read_timeout": socket_timeout,
        "write_timeout": socket_timeout,
        "charset": "utf8mb4",
        # Read-only SELECTs: nothing to commit or roll back between requests.
        "autocommit": True,
        # One statement per query: the server refuses a second one, so no answer carries extra results.
        "multi_statements": False,
    }


def session_limits(server_version: str, seconds: float) -> bytes:
    """SET the session's time limits, so that the server ends a query (and a lock wait) by itself.

    MariaDB's max_statement_time counts seconds, fractions allowed. MySQL 8's max_execution_time counts
    milliseconds and applies to read-only SELECT statements, which are all this pool sends; past it the
    server aborts the statement with error 3024, ER_QUERY_TIMEOUT, and the session stays usable (MySQL 8.0
    Reference Manual: "Server System Variables", max_execution_time, and the server error reference). A
    MariaDB server says so in its version string ("10.11.6-MariaDB-...").
    """
    if "MariaDB" in server_version:
        limit = f"max_statement_time = {seconds:.3f}"
    else:
        limit = f"max_execution_time = {math.ceil(seconds * 1000)}"
    return f"SET SESSION {limit}, lock_wait_timeout = {math.ceil(seconds)}".encode()


def _length_encoded(data: bytearray, position: int) -> tuple[int, int]:
    """A length-encoded integer at position, and the position after it."""
    first = data[position]
    if first < 0xFB:
        return first, position + 1
    width = LENGTH_WIDTHS[first]
    return int.from_bytes(data[position + 1 : position + 1 + width], "little"), position + 1 + width


def _ok_status(data: bytearray, start: int) -> int:
    """The status flags of the OK packet at start: after its header, affected rows and last insert id."""
    _, position = _length_encoded(data, start + 1)
    _, position = _length_encoded(data, position)
    return data[position] | data[position + 1] << 8


def answer_is_complete(data: bytearray, end: int, deprecate_eof: bool) -> bool:
    """Whether data[:end] holds exactly the whole answer to one query (text protocol), and no more.

    True means the driver can read it without waiting. Anything unusual (a LOCAL INFILE request, more
    results announced, a progress report, bytes after the answer, a malformed packet) is False: a worker
    thread then reads it, which is always correct, only slower.
    """
    try:
        return _walk(data, end, deprecate_eof)
    except (IndexError, KeyError, struct.error):
        return False


def _walk(data: bytearray, end: int, deprecate_eof: bool) -> bool:
    # A packet of 16 MB, continued in the next one, never fits in the peek buffer: the walk runs past
    # `end`, and the answer counts as incomplete.
    word, header = PACKET_START.unpack_from(data, 0)
    first_end = HEADER_BYTES + (word & MAX_PAYLOAD)
    if header == OK:  # a statement without rows
        return first_end == end and not _ok_status(data, HEADER_BYTES) & SERVER_MORE_RESULTS_EXIST
    if header == ERR:
        return first_end == end and data[5] | data[6] << 8 != PROGRESS_REPORT
    if header in (LOCAL_INFILE, EOF):
        return False
    # A result set: the number of columns, their definitions, an EOF packet unless deprecated, the rows.
    columns, after_count = _length_encoded(data, HEADER_BYTES)
    if after_count < first_end and not data[after_count]:
        columns = 0  # MariaDB's metadata cache: a 0 after the count means no definitions follow
    position = first_end
    for _ in range(columns + (not deprecate_eof)):
        position += HEADER_BYTES + (data[position] | data[position + 1] << 8 | data[position + 2] << 16)
    # The rows, most of the answer, cost one unpack each. Only the end (0xFE) or an error (0xFF) starts
    # with these bytes: a row would need a value of 16 MB to.
    unpack = PACKET_START.unpack_from
    while position < end:
        word, header = unpack(data, position)
        if header >= EOF:
            break
        position += HEADER_BYTES + (word & MAX_PAYLOAD)
    else:
        return False
    if position + HEADER_BYTES + (word & MAX_PAYLOAD) != end:  # the last packet, whole, and nothing after
        return False
    if header == ERR:  # the query failed while sending rows
        return True
    start = position + HEADER_BYTES
    status = _ok_status(data, start) if deprecate_eof else data[start + 3] | data[start + 4] << 8
    return not status & SERVER_MORE_RESULTS_EXIST


def read_answer(connection: Connection) -> Sequence[Row]:
    """Read the answer to the query sent; blocks until it has all arrived (see the module docstring)."""
    connection.read_query_result()
    result = connection.store_result()
    rows = result.fetch_row(maxrows=0) if result is not None else ()
    if connection.next_result() != -1:
        # A further result set would be read by the next request on this connection ("out of sync").
        raise MySQLdb.ProgrammingError("the statement returned more than one result set")
    return rows


class PooledConnection:
    """A driver connection, a duplicate of its socket to peek and shut down with, and its pool state."""

    def __init__(self, driver: Connection) -> None:
        self.driver = driver
        self._socket = socket.socket(fileno=os.dup(driver.fileno()))
        negotiated = driver.client_flag & driver.server_capabilities
        self._peekable = not negotiated & UNREADABLE_FRAMING
        self._deprecate_eof = bool(negotiated & CLIENT_DEPRECATE_EOF)
        self.pooled = False  # has waited in the pool: a server-gone failure may mean it went stale
        self.idle_since = 0.0
        self.reader: asyncio.Future | None = None  # a worker thread reading an answer from it
        self.closed = False

    def fileno(self) -> int:
        return self.driver.fileno()

    def answer_arrived(self, buffer: bytearray) -> bool:
        """Whether the whole answer is here, so that reading it cannot block. Raises ServerGone.

        `buffer` receives a copy of what the kernel holds; the bytes stay there for the driver.
        """
        try:
            size = self._socket.recv_into(buffer, 0, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:  # reset by the peer, or a TCP timeout
            raise ServerGone from None
        if size == 0:  # the server closed the connection
            raise ServerGone
        return self._peekable and answer_is_complete(buffer, size, self._deprecate_eof)

    def read_blocking(self) -> None:
        """Make the driver's reads wait for their bytes, as it expects.

        Watching the socket, uvloop (libuv) makes it non-blocking, for both descriptors. The driver's
        plain reads cope; its TLS reads do not: after a pause in the bytes they wait a few milliseconds
        more (MariaDB Connector/C 3.3 reads read_timeout as milliseconds; later versions wait 5 ms), then
        fail with error 2026. A blocking read waits as long as the socket timeout allows, and never past
        the request's deadline, which shuts the socket down.
        """
        self._socket.setblocking(True)

    def shut_down(self) -> None:
        """End any read in progress: the socket is shared by both descriptors, and so is its shutdown."""
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(MySQLdb.Error):
            self.driver.close()
        self._socket.close()


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _fail(future: asyncio.Future, error: type[Exception]) -> None:
    if not future.done():
        future.set_exception(error())


async def _readable(loop: asyncio.AbstractEventLoop, connection: PooledConnection, deadline: float) -> None:
    ready = loop.create_future()
    descriptor = connection.fileno()
    loop.add_reader(descriptor, _resolve, ready)
    timer = loop.call_at(deadline, _fail, ready, QueryTimeout)
    try:
        await ready
    finally:
        loop.remove_reader(descriptor)
        timer.cancel()


async def _wait_for_thread(work: asyncio.Future, deadline: float, give_up: Callable[[], Any]) -> Any:
    """The result of work on a worker thread, waited for until the deadline.

    Past the deadline (QueryTimeout) or on cancellation, give_up() settles what the work still holds:
    the work itself is shielded, since a thread cannot be interrupted.
    """
    try:
        async with asyncio.timeout_at(deadline):
            return await asyncio.shield(work)
    except TimeoutError:
        give_up()
        raise QueryTimeout from None
    except asyncio.CancelledError:
        give_up()
        raise


class Database:
    def __init__(
        self,
        url: URL,
        *,
        request_timeout: float,
        connect_timeout: int,
        socket_timeout: int,
        pool_size: int,
        pool_timeout: float,
        pool_max_idle: float,
        ssl_mode: str = "DISABLED",
        ssl_ca: str | None = None,
        connect: Callable[..., Connection] = MySQLdb.connect,
    ) -> None:
        arguments = connect_arguments(url, connect_timeout, socket_timeout, ssl_mode, ssl_ca)
        self._connect = partial(connect, **arguments)
        self._size = pool_size
        self._counted = 0  # connections being opened, idle, in use or closing: never above _size
        self._idle: list[PooledConnection] = []  # the longest idle first
        self._waiters: deque[asyncio.Future] = deque()
        self._wait_limit = pool_timeout
        self._max_idle = pool_max_idle
        self._deadline = request_timeout
        # Peeks happen on the event loop only, one at a time, each done with its buffer before the next
        # await: one buffer serves every connection.
        self._peek_buffer = bytearray(PEEK_BYTES)
        # One thread per counted connection at most (opening it, or reading an answer from it): no
        # thread hand-off ever waits in the executor's queue.
        self._threads = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="mysql")
        self._closed = False

    async def fetch(
        self, statement: Statement, values: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> Sequence[Row]:
        """Run one statement within `timeout` seconds (default: the request timeout), pool wait included.

        Raises DatabaseUnavailable on any failure, and when the deadline passes.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._deadline if timeout is None else timeout) - RESPONSE_MARGIN_SECONDS
        try:
            return await self._fetch(loop, statement, values or {}, deadline)
        except PoolBusy:
            raise DatabaseUnavailable("Database busy") from None
        except QueryTimeout:
            log.warning("database call exceeded its deadline")
            raise DatabaseUnavailable("Database timed out") from None
        except ServerGone:
            log.warning("database server gone")
            raise DatabaseUnavailable("Database unavailable") from None
        except MySQLdb.Error as error:
            log.warning("database error: %s %s", type(error).__name__, error.args[:1])
            raise DatabaseUnavailable("Database unavailable") from None
        except Exception:
            # Not the driver's: out of file descriptors, the pool closing under the request. Still a 503.
            log.exception("database access failed")
            raise DatabaseUnavailable("Database unavailable") from None

    async def _fetch(
        self,
        loop: asyncio.AbstractEventLoop,
        statement: Statement,
        values: Mapping[str, Any],
        deadline: float,
    ) -> Sequence[Row]:
        connection = await self._acquire(loop, deadline)
        try:
            return await self._use(loop, connection, statement, values, deadline)
        except ServerGone:
            self._discard_idle()
            if not connection.pooled:
                raise
        # The connection had gone stale with its server (a MySQL restart): once more, on a fresh one.
        return await self._use(loop, await self._acquire(loop, deadline), statement, values, deadline)

    async def _use(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: PooledConnection,
        statement: Statement,
        values: Mapping[str, Any],
        deadline: float,
    ) -> Sequence[Row]:
        if loop.time() >= deadline:
            self._release(connection)  # nothing was sent on it: as good as before
            raise QueryTimeout
        try:
            rows = await self._query(loop, connection, statement.render(connection.driver, values), deadline)
        except BaseException as error:
            self._close(connection)  # a query may still be in flight on it: never reuse it
            code = error.args[0] if isinstance(error, MySQLdb.Error) and error.args else None
            if code in SERVER_GONE:
                raise ServerGone from None
            if code in STATEMENT_TIMEOUT:
                raise QueryTimeout from None
            raise
        self._release(connection)
        return rows

    async def _query(
        self, loop: asyncio.AbstractEventLoop, connection: PooledConnection, sql: bytes, deadline: float
    ) -> Sequence[Row]:
        connection.driver.send_query(sql)
        await _readable(loop, connection, deadline)
        if connection.answer_arrived(self._peek_buffer):
            return read_answer(connection.driver)
        connection.read_blocking()
        connection.reader = loop.run_in_executor(self._threads, read_answer, connection.driver)
        # Given up, the socket is shut down, which ends the read; the connection closes after it.
        rows = await _wait_for_thread(connection.reader, deadline, connection.shut_down)
        connection.reader = None  # done: its rows are the request's now, not the idle connection's
        return rows

    async def _acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> PooledConnection:
        """An idle connection, a new one, or one handed over by another request."""
        now = loop.time()
        if now >= deadline:
            raise QueryTimeout
        while self._idle and now - self._idle[0].idle_since > self._max_idle:
            self._close(self._idle.pop(0))
        if self._idle:
            return self._idle.pop()
        if self._counted < self._size:
            self._counted += 1
            return await self._open(loop, deadline)
        waiter = loop.create_future()
        self._waiters.append(waiter)
        # The 503 names what ends the wait: the request's deadline ("timed out") or the pool timeout ("busy").
        gives_up = now + self._wait_limit
        error = QueryTimeout if deadline <= gives_up else PoolBusy
        timer = loop.call_at(min(deadline, gives_up), _fail, waiter, error)
        try:
            handed = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._pass_on(waiter.result())
            raise
        finally:
            timer.cancel()
        # None: room to open a connection, already counted for this request.
        return handed or await self._open(loop, deadline)

    async def _open(self, loop: asyncio.AbstractEventLoop, deadline: float) -> PooledConnection:
        """Open a connection, already counted, on a worker thread; the request waits until its deadline."""
        if loop.time() >= deadline:
            self._uncount()
            raise QueryTimeout
        try:
            attempt = loop.run_in_executor(self._threads, self._new_connection)
        except BaseException:
            self._uncount()  # the executor refused it (the pool is closing): no attempt is under way
            raise
        try:
            # Given up, the attempt goes on: a late connection goes to the pool, a failure frees the place.
            settle_later = partial(attempt.add_done_callback, self._settle_late)
            return await _wait_for_thread(attempt, deadline, settle_later)
        except (QueryTimeout, asyncio.CancelledError):
            raise
        except BaseException:
            self._uncount()
            raise

    def _new_connection(self) -> PooledConnection:
        driver = self._connect()
        try:
            driver.query(session_limits(driver.get_server_info(), self._deadline))
            return PooledConnection(driver)
        except BaseException:
            driver.close()
            raise

    def _settle_late(self, attempt: asyncio.Future) -> None:
        """A connection attempt its request stopped waiting for has ended."""
        if attempt.cancelled() or attempt.exception() is not None:
            self._uncount()
        else:
            self._release(attempt.result())

    def _release(self, connection: PooledConnection) -> None:
        """A clean connection: to the next waiting request, else to the idle list."""
        connection.pooled = True  # a late one too: it may go stale before its first query
        if self._closed:
            self._close(connection)
        elif waiter := self._next_waiter():
            waiter.set_result(connection)
        else:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.append(connection)

    def _close(self, connection: PooledConnection) -> None:
        """Close a connection, once its reading thread (if any) has returned, and free its place."""
        if connection.closed:
            return
        reader = connection.reader
        if reader is not None and not reader.done():
            reader.add_done_callback(lambda _: self._close(connection))
            return
        if reader is not None and not reader.cancelled():
            reader.exception()  # retrieved: the request has already been answered
        connection.close()
        self._uncount()

    def _uncount(self) -> None:
        """A place in the pool is free: the next waiting request may open a connection in it."""
        if not self._closed and (waiter := self._next_waiter()):
            waiter.set_result(None)
        else:
            self._counted -= 1

    def _pass_on(self, handed: PooledConnection | None) -> None:
        """What was handed to a request that was cancelled before it could take it."""
        if handed is None:
            self._uncount()
        else:
            self._release(handed)

    def _next_waiter(self) -> asyncio.Future | None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def _discard_idle(self) -> None:
        while self._idle:
            self._close(self._idle.pop())

    def close(self) -> None:
        self._closed = True
        self._discard_idle()
        while waiter := self._next_waiter():
            waiter.set_exception(PoolBusy())
        # Connection attempts and reads in progress end within their timeouts; a connection that
        # arrives after this is closed.
        self._threads.shutdown(wait=False, cancel_futures=True)
