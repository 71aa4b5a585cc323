"""database.py's deadlines, pool and reading, with a scripted connection: no MariaDB, no sleeps.

TEST DOUBLES (named here as the house rules ask): FakeConnection stands in for a mysqlclient connection
and FakeServer for MySQLdb.connect. They exist because these paths (a deadline passing during the
connect, a cancellation mid-query, an answer stopping halfway) cannot be produced on demand, in
milliseconds and in a known order, by a real server. The fake answers with real MySQL packets on a
non-blocking socket, as the driver reads them, so reading before an answer is whole fails at once, here,
instead of blocking the event loop. tests/api/test_database.py runs the same layer against MariaDB.
"""

import asyncio
import select
import socket
import threading
from collections.abc import Callable, Iterator

import MySQLdb
import pytest
import sqlalchemy
from sqlalchemy.engine import URL

from database import Database, DatabaseUnavailable, Statement, answer_is_complete
from devstack.wait import wait_until

pytestmark = pytest.mark.anyio

ROWS = ((7, "Priya", "priya.iris7@example.org"),)
ONE_USER = Statement(sql=b"SELECT id, username, email FROM Users WHERE id = %s", parameters=("user_id",))
# A hang guard only: every wait below ends by itself in milliseconds.
HANG_GUARD_SECONDS = 10
# With the 50 ms response margin, a deadline of this many seconds has passed before anything is sent.
ALREADY_PASSED = 0
# ...and one of this many seconds passes a few milliseconds after the query went out.
SOON = 0.06
POOL = {
    "request_timeout": 2,
    "connect_timeout": 2,
    "socket_timeout": 30,
    "pool_size": 2,
    "pool_timeout": 0.5,
    "pool_max_idle": 60,
}


# The MySQL protocol as a server writes it: a 3-byte length, a sequence number, the payload.


def packet(payload: bytes, sequence: int = 1) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([sequence % 256]) + payload


def text(value: str) -> bytes:
    encoded = value.encode()
    return bytes([len(encoded)]) + encoded


def eof(status: int = 0x0002) -> bytes:  # 0x0002: autocommit
    return packet(b"\xfe\x00\x00" + status.to_bytes(2, "little"))


def ok(status: int = 0x0002, header: bytes = b"\x00") -> bytes:
    return packet(header + b"\x00\x00" + status.to_bytes(2, "little") + b"\x00\x00")


def error(code: int = 1205, message: str = "Lock wait timeout exceeded") -> bytes:
    return packet(b"\xff" + code.to_bytes(2, "little") + b"#HY000" + message.encode())


def result_set(
    rows: tuple = ROWS, deprecate_eof: bool = False, status: int = 0x0002, count: bytes = b"\x03"
) -> bytes:
    columns = [packet(text("def") + text("Main") + text(name)) for name in ("id", "username", "email")]
    if count.endswith(b"\x00"):  # MariaDB's metadata cache: the definitions are not sent again
        columns = []
    body = [packet(b"".join(text(str(value)) for value in row)) for row in rows]
    if deprecate_eof:
        return packet(count) + b"".join(columns) + b"".join(body) + ok(status, header=b"\xfe")
    return packet(count) + b"".join(columns) + eof() + b"".join(body) + eof(status)


class FakeResult:
    def __init__(self, rows: tuple) -> None:
        self._rows = rows

    def fetch_row(self, maxrows: int) -> tuple:
        assert maxrows == 0  # all rows: what Database asks for
        return self._rows


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class FakeConnection:
    """TEST DOUBLE for a mysqlclient connection: the split-protocol calls that Database makes.

    fileno() is one end of a non-blocking socketpair; the "server" writes its answer to the other end.
    Reading it, like the driver, waits for every byte: on a worker thread it waits; on the event loop,
    where waiting would hold every other request, a missing byte fails the test at once.
    """

    client_flag = server_capabilities = 0  # MariaDB's client library: plain framing, EOF packets

    def __init__(self, server_info: str) -> None:
        self.server_info = server_info
        self.session: list[bytes] = []  # what was sent before the first query, to set up the session
        self._ours, self._servers = socket.socketpair()
        self._ours.setblocking(False)
        self.answer = result_set()
        self.error: Exception | None = None  # what reading the answer raises (the answer is an ERR)
        self.at_once: int | None = (
            None  # bytes of each answer sent at once (None: all); respond() sends the rest
        )
        self.extra_results = False
        self.hung_up = False
        self.sent: list[bytes] = []
        self.read_on_loop: list[bool] = []
        self.closed = False

    def literal(self, value: int) -> bytes:
        return str(int(value)).encode()

    def get_server_info(self) -> str:
        return self.server_info

    def query(self, sql: bytes) -> None:
        self.session.append(sql)

    def fileno(self) -> int:
        return self._ours.fileno()

    def send_query(self, sql: bytes) -> None:
        assert not self.closed
        self.sent.append(sql)
        if self.error is not None:
            self.answer = error(*self.error.args)
        if not self.hung_up and self.at_once != 0:
            self._servers.send(self.answer[: self.at_once])

    def respond(self) -> None:
        self._servers.send(self.answer[self.at_once :])

    def hang_up(self) -> None:
        """The server closes the connection, as a restarted MySQL's kernel does for it."""
        self.hung_up = True
        self._servers.close()

    def read_query_result(self) -> None:
        self.read_on_loop.append(on_event_loop())
        received = b""
        while len(received) < len(self.answer):
            if not self.read_on_loop[-1]:
                assert select.select([self._ours], [], [], HANG_GUARD_SECONDS)[0], "no answer: hang guard"
            try:
                # MSG_DONTWAIT: the pool makes the socket blocking before a worker thread reads.
                flags = socket.MSG_DONTWAIT if self.read_on_loop[-1] else 0
                chunk = self._ours.recv(len(self.answer) - len(received), flags)
            except BlockingIOError:
                pytest.fail("read on the event loop before the whole answer arrived: it would block the loop")
            if not chunk:  # shut down or closed: what the driver reports
                raise MySQLdb.OperationalError(2013, "Lost connection to server during query")
            received += chunk
        if self.error is not None:
            raise self.error

    def store_result(self) -> FakeResult:
        return FakeResult(ROWS)

    def next_result(self) -> int:
        return 0 if self.extra_results else -1

    def close(self) -> None:
        self.closed = True
        self._ours.close()
        self._servers.close()


class FakeServer:
    """TEST DOUBLE for MySQLdb.connect: hands out FakeConnections, optionally held at a gate first.

    It counts what the pool bound is about: connections being opened or open at once.
    """

    def __init__(self) -> None:
        self.connections: list[FakeConnection] = []
        self.refusal: Exception | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.error: Exception | None = None  # for the first answer of each new connection
        self.attempts = 0
        self.refused = 0
        self.most_open = 0
        self.arguments: dict = {}  # of the last connect
        self.server_info = "10.11.6-MariaDB-0+deb12u1"
        self._lock = threading.Lock()

    def open_now(self) -> int:
        return self.attempts - self.refused - sum(connection.closed for connection in self.connections)

    def connect(self, **arguments) -> FakeConnection:
        assert arguments["multi_statements"] is False
        self.arguments = arguments
        with self._lock:
            self.attempts += 1
            self.most_open = max(self.most_open, self.open_now())
        assert self.gate.wait(HANG_GUARD_SECONDS), "the test never opened the gate"
        if self.refusal is not None:
            self.refused += 1
            raise self.refusal
        connection = FakeConnection(self.server_info)
        connection.error = self.error
        self.connections.append(connection)
        return connection


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    yield fake
    fake.gate.set()  # never leave a worker thread waiting


@pytest.fixture
def make_database(server: FakeServer) -> Iterator[Callable[..., Database]]:
    """Databases on the fake server, with setting overrides; closed after the test."""
    made: list[Database] = []

    def make(**settings) -> Database:
        made.append(Database(URL.create("mysql+mysqldb"), **{**POOL, **settings}, connect=server.connect))
        return made[-1]

    yield make
    for database in made:
        database.close()


@pytest.fixture
def database(make_database) -> Database:
    return make_database()


async def fetch(database: Database, timeout: float | None = None) -> tuple:
    return await asyncio.wait_for(
        database.fetch(ONE_USER, {"user_id": 7}, timeout=timeout), HANG_GUARD_SECONDS
    )


async def wait_for(condition, what: str) -> None:
    """The one wait helper, run off the loop so that the loop can bring the condition about."""
    await asyncio.to_thread(wait_until, condition, HANG_GUARD_SECONDS, what)


async def failure(database: Database, timeout: float | None = None) -> str:
    with pytest.raises(DatabaseUnavailable) as error:
        await fetch(database, timeout)
    return str(error.value)


# Whether an answer is whole: the MySQL framing, packet by packet.


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(result_set(), id="rows"),
        pytest.param(result_set(rows=()), id="no rows"),
        pytest.param(error(), id="error"),
        pytest.param(ok(), id="ok"),
        pytest.param(result_set()[:-9] + error(), id="error after some rows"),
        pytest.param(result_set(count=b"\x03\x01"), id="metadata cache: definitions follow"),
        pytest.param(result_set(count=b"\x03\x00"), id="metadata cache: no definitions"),
    ],
)
def test_an_answer_is_complete_only_once_its_last_byte_is_there(answer):
    data = bytearray(answer)
    assert answer_is_complete(data, len(data), deprecate_eof=False)
    assert not any(answer_is_complete(data, end, deprecate_eof=False) for end in range(len(data)))


def test_with_eof_deprecated_the_rows_end_with_an_ok_packet_and_no_eof_follows_the_columns():
    data = bytearray(result_set(deprecate_eof=True))
    assert answer_is_complete(data, len(data), deprecate_eof=True)
    assert not any(answer_is_complete(data, end, deprecate_eof=True) for end in range(len(data)))
    # Without rows, read as if EOF packets were in use, the final OK passes for the EOF after the columns.
    no_rows = bytearray(result_set(rows=(), deprecate_eof=True))
    assert answer_is_complete(no_rows, len(no_rows), deprecate_eof=True)
    assert not answer_is_complete(no_rows, len(no_rows), deprecate_eof=False)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(result_set(status=0x000A), id="more results announced"),
        pytest.param(ok(status=0x000A), id="ok with more results announced"),
        pytest.param(b"\xff\xff\xff\x01" + b"\x03" * 100, id="a continued 16 MB packet"),
        pytest.param(packet(b"\xfbdata.csv"), id="local infile request"),
        pytest.param(packet(b"\xfc"), id="malformed column count"),
        # Alone, it ends exactly where the peek does: only the progress check can say "not yet".
        pytest.param(error(0xFFFF, "\x01\x01\x00"), id="a progress report alone"),
        pytest.param(error(0xFFFF, "\x01\x01\x00") + result_set(), id="a progress report first"),
        pytest.param(result_set() + b"\x00", id="bytes after the answer"),
    ],
)
def test_what_the_loop_cannot_read_without_waiting_is_never_complete(answer):
    assert not answer_is_complete(bytearray(answer), len(answer), deprecate_eof=False)


# Reading: on the loop when whole, on a worker thread otherwise, never past the deadline.


async def test_a_query_renders_its_values_reads_on_the_loop_and_its_connection_is_reused(database, server):
    assert await fetch(database) == ROWS
    assert await fetch(database) == ROWS
    [connection] = server.connections
    assert connection.sent == [b"SELECT id, username, email FROM Users WHERE id = 7"] * 2
    assert connection.read_on_loop == [True, True]  # whole answers: no thread hand-off


async def test_values_may_be_named_like_the_parameters_of_fetch(database, server):
    statement = Statement(sql=b"SELECT %s, %s", parameters=("statement", "timeout"))
    await database.fetch(statement, {"statement": 1, "timeout": 2})
    assert server.connections[0].sent == [b"SELECT 1, 2"]


async def test_an_answer_that_has_only_begun_is_read_on_a_worker_while_other_requests_are_served(
    database, server
):
    await fetch(database)
    [slow] = server.connections
    slow.at_once = 1
    request = asyncio.create_task(fetch(database))
    await wait_for(lambda: len(slow.read_on_loop) == 2, "the slow answer being read")
    assert await fetch(database) == ROWS  # on a second connection: the loop is free meanwhile
    slow.respond()
    assert await request == ROWS
    assert slow.read_on_loop == [True, False]
    assert not slow.closed  # read whole: the connection stays in the pool


async def test_an_answer_that_stops_halfway_ends_at_the_deadline_and_its_connection_is_closed(
    database, server
):
    await fetch(database)
    [connection] = server.connections
    connection.at_once = 1
    assert await failure(database, timeout=SOON) == "Database timed out"
    # The worker's read ended when the socket was shut down; then the connection was closed.
    await wait_for(lambda: connection.closed, "the stalled connection closed")
    assert connection.read_on_loop == [True, False]
    assert await fetch(database) == ROWS
    assert len(server.connections) == 2


async def test_the_deadline_passing_while_waiting_for_the_answer_closes_the_connection(database, server):
    await fetch(database)
    [connection] = server.connections
    connection.at_once = 0
    assert await failure(database, timeout=SOON) == "Database timed out"
    assert len(connection.sent) == 2 and connection.closed  # its answer may still come: never reuse it


async def test_a_deadline_that_has_passed_sends_nothing_and_keeps_the_connection(database, server):
    await fetch(database)
    [connection] = server.connections
    # A timeout of 0 is a deadline that has passed, not "the default".
    assert await failure(database, timeout=ALREADY_PASSED) == "Database timed out"
    assert len(connection.sent) == 1 and not connection.closed
    assert await fetch(database) == ROWS
    assert len(server.connections) == 1  # no reconnect: the connection was as good as before


async def test_a_deadline_that_has_passed_opens_no_connection(database, server):
    assert await failure(database, timeout=ALREADY_PASSED) == "Database timed out"
    assert server.attempts == 0


async def test_cancelling_during_the_query_closes_the_connection_and_frees_its_place(make_database, server):
    database = make_database(pool_size=1)
    await fetch(database)
    server.connections[0].at_once = 0
    request = asyncio.create_task(fetch(database))
    await wait_for(lambda: len(server.connections[0].sent) == 2, "the query sent")
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert server.connections[0].closed
    assert await fetch(database) == ROWS  # the pool's only place is free again


# The pool: one bound for connections being opened, idle and in use.


async def test_connections_being_opened_count_against_the_pool_and_a_late_one_is_kept(make_database, server):
    # Late connections once landed in a full idle list while others were still being opened, so the
    # server saw more than the pool size. Counted from the start of their attempt, they cannot.
    database = make_database(pool_size=2, pool_timeout=0.01)
    server.gate.clear()
    assert await failure(database, timeout=SOON) == "Database timed out"
    assert await failure(database, timeout=SOON) == "Database timed out"
    # Two attempts under way fill the pool: no third, however many requests come.
    assert await failure(database) == "Database busy"
    assert server.attempts == 2
    server.gate.set()
    await wait_for(lambda: len(database._idle) == 2, "the late connections in the pool")
    assert await asyncio.gather(fetch(database), fetch(database)) == [ROWS] * 2
    assert server.attempts == 2 and server.most_open == 2


async def test_a_request_waiting_for_room_takes_a_connection_that_arrives_late(make_database, server):
    database = make_database(pool_size=1, pool_timeout=60)
    server.gate.clear()
    assert await failure(database, timeout=SOON) == "Database timed out"
    waiting = asyncio.create_task(fetch(database))
    await wait_for(lambda: database._waiters, "the request waiting for room")
    server.gate.set()
    assert await waiting == ROWS
    assert server.attempts == 1  # the late connection served it: no attempt of its own


async def test_a_request_cancelled_while_waiting_gives_up_its_turn(make_database, server):
    database = make_database(pool_size=1, pool_timeout=60)
    await fetch(database)
    [connection] = server.connections
    connection.at_once = 0
    holder = asyncio.create_task(fetch(database))
    await wait_for(lambda: len(connection.sent) == 2, "the pool's only connection in use")
    waiting = asyncio.create_task(fetch(database))
    await wait_for(lambda: database._waiters, "a request waiting for room")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    connection.respond()
    connection.at_once = None
    assert await holder == ROWS
    assert await fetch(database) == ROWS  # the connection went back to the pool, not to the cancelled one
    assert server.attempts == 1


async def test_cancelling_during_connect_leaves_the_late_connection_to_the_pool(make_database, server):
    database = make_database(pool_size=1)
    server.gate.clear()
    request = asyncio.create_task(fetch(database))
    await wait_for(lambda: server.attempts == 1, "the connection attempt")
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    server.gate.set()
    assert await fetch(database) == ROWS
    assert server.attempts == 1 and not server.connections[0].closed


async def test_a_full_pool_answers_busy_after_the_pool_timeout(make_database, server):
    database = make_database(pool_size=1, pool_timeout=0.01)
    await fetch(database)
    server.connections[0].at_once = 0
    holder = asyncio.create_task(fetch(database))
    await wait_for(lambda: len(server.connections[0].sent) == 2, "the pool's only connection in use")
    assert await failure(database) == "Database busy"
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder


async def test_a_deadline_that_ends_the_wait_for_a_connection_answers_timed_out(make_database, server):
    database = make_database(pool_size=1, pool_timeout=60)
    await fetch(database)
    server.connections[0].at_once = 0
    holder = asyncio.create_task(fetch(database))
    await wait_for(lambda: len(server.connections[0].sent) == 2, "the pool's only connection in use")
    # Were the 60 s pool timeout honoured past the deadline, the hang guard would fail this.
    assert await failure(database, timeout=SOON) == "Database timed out"
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder


async def test_an_idle_connection_past_its_age_is_replaced(make_database, server):
    database = make_database(pool_max_idle=1e-6)  # any time between two requests is longer
    await fetch(database)
    await fetch(database)
    first, second = server.connections
    assert first.closed and not second.closed


async def test_a_server_gone_error_drops_every_idle_connection_and_retries_once_on_a_fresh_one(
    make_database, server
):
    database = make_database(pool_size=3)
    await asyncio.gather(*(fetch(database) for _ in range(3)))
    pooled = list(server.connections)
    for connection in pooled:
        connection.at_once = 0
    holder = asyncio.create_task(fetch(database))
    await wait_for(lambda: any(len(c.sent) == 2 for c in pooled), "one connection in use")
    [busy] = [connection for connection in pooled if len(connection.sent) == 2]
    idle = [connection for connection in pooled if connection is not busy]
    for connection in idle:
        connection.hang_up()  # as after a MySQL restart
    assert await fetch(database) == ROWS
    assert all(connection.closed for connection in idle)
    assert not busy.closed  # in use, not idle: its own answer decides
    assert len(server.connections) == 4 and server.most_open == 3
    busy.respond()
    assert await holder == ROWS


async def test_a_late_connection_gone_stale_in_the_pool_is_retried_like_a_used_one(make_database, server):
    database = make_database(pool_size=1)
    server.gate.clear()
    assert await failure(database, timeout=SOON) == "Database timed out"
    server.gate.set()
    await wait_for(lambda: database._idle, "the late connection in the pool")
    server.connections[0].hang_up()  # a MySQL restart before its first query
    assert await fetch(database) == ROWS
    assert server.attempts == 2


async def test_a_server_gone_error_on_the_retry_gives_503_unavailable(database, server):
    await fetch(database)
    server.connections[0].hang_up()
    server.refusal = MySQLdb.OperationalError(2003, "Can't connect to server")
    assert await failure(database) == "Database unavailable"
    assert server.attempts == 2  # one retry, which failed to connect: no further attempt


async def test_an_error_of_the_query_closes_only_its_own_connection_and_is_not_retried(database, server):
    await asyncio.gather(fetch(database), fetch(database))
    for connection in server.connections:
        connection.error = MySQLdb.ProgrammingError(1146, "Table 'Main.Users' doesn't exist")
    assert await failure(database) == "Database unavailable"
    assert [connection.closed for connection in server.connections].count(True) == 1
    assert len(server.connections) == 2


async def test_a_server_gone_error_on_a_new_connection_is_not_retried(database, server):
    server.error = MySQLdb.OperationalError(2006, "Server has gone away")
    assert await failure(database) == "Database unavailable"
    assert server.attempts == 1


async def test_a_pooled_connection_lost_mid_answer_is_retried_once_on_a_fresh_one(database, server):
    await fetch(database)
    server.connections[0].error = MySQLdb.OperationalError(2013, "Lost connection to server during query")
    assert await fetch(database) == ROWS
    assert server.attempts == 2 and server.connections[0].closed


async def test_a_query_the_server_stopped_at_its_time_limit_answers_timed_out(database, server):
    server.error = MySQLdb.OperationalError(
        1969, "Query execution was interrupted (max_statement_time exceeded)"
    )
    assert await failure(database) == "Database timed out"


async def test_a_refused_connection_gives_503_unavailable(database, server):
    server.refusal = MySQLdb.OperationalError(2003, "Can't connect to server")
    assert await failure(database) == "Database unavailable"


async def test_an_answer_with_more_than_one_result_set_never_goes_back_to_the_pool(database, server):
    await fetch(database)
    server.connections[0].extra_results = True
    assert await failure(database) == "Database unavailable"
    assert server.connections[0].closed
    assert await fetch(database) == ROWS
    assert len(server.connections) == 2


async def test_close_closes_the_idle_connections(database, server):
    await fetch(database)
    database.close()
    assert server.connections[0].closed


# What a new connection is told, and how statements render.


@pytest.mark.parametrize(
    ("server_info", "limits"),
    [
        ("10.11.6-MariaDB-0+deb12u1", b"SET SESSION max_statement_time = 3.500, lock_wait_timeout = 4"),
        ("8.0.25", b"SET SESSION max_execution_time = 3500, lock_wait_timeout = 4"),
    ],
)
async def test_a_new_connection_gets_the_drivers_timeouts_and_the_servers_limits_at_the_request_timeout(
    make_database, server, server_info, limits
):
    server.server_info = server_info
    await fetch(make_database(request_timeout=3.5, connect_timeout=5, socket_timeout=40))
    assert server.connections[0].session == [limits]
    timeouts = {name: server.arguments[name] for name in ("connect_timeout", "read_timeout", "write_timeout")}
    assert timeouts == {"connect_timeout": 5, "read_timeout": 40, "write_timeout": 40}


USERS = sqlalchemy.table("Users", sqlalchemy.column("id"))


def test_a_statement_whose_sql_depends_on_a_value_not_known_yet_is_refused_when_compiled():
    with pytest.raises(ValueError, match="ids"):
        Statement.compile(
            sqlalchemy.select(USERS.c.id).where(USERS.c.id.in_(sqlalchemy.bindparam("ids", expanding=True)))
        )


async def test_values_written_into_a_statement_are_rendered_with_it(database, server):
    statement = Statement.compile(
        sqlalchemy.select(USERS.c.id).where(USERS.c.id.in_([3, 4]), USERS.c.id > sqlalchemy.bindparam("low"))
    )
    await database.fetch(statement, {"low": 1})
    assert server.connections[0].sent[0].endswith(b"WHERE `Users`.id IN (3, 4) AND `Users`.id > 1")
