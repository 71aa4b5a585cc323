"""userapi.database's deadlines, cancellation and pool, with a scripted connection: no MariaDB, no sleeps.

TEST DOUBLES (named here as the house rules ask): FakeConnection stands in for a mysqlclient connection
and FakeServer for MySQLdb.connect. They exist because these paths (a deadline passing during the
connect, a cancellation mid-query, a lost connection) cannot be produced on demand, in milliseconds and
in a known order, by a real server. tests/api/test_database.py runs the same layer against MariaDB.
"""

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import MySQLdb
import pytest

from devstack.wait import wait_until
from userapi.config import Settings
from userapi.database import Database, DatabaseUnavailable, Statement

pytestmark = pytest.mark.anyio

ROWS = ((7, "Priya", "priya.iris7@example.org"),)
ONE_USER = Statement(sql=b"SELECT id, username, email FROM Users WHERE id = %s", parameters=("user_id",))
# A hang guard only: every wait below ends by itself in milliseconds.
HANG_GUARD_SECONDS = 10
# With the 50 ms response margin, a deadline of this many seconds has passed before anything is sent.
ALREADY_PASSED = 0
# ...and one of this many seconds passes a few milliseconds after the query went out.
SOON = 0.06
LOST = MySQLdb.OperationalError(2013, "Lost connection to server during query")


class FakeResult:
    def __init__(self, rows: tuple) -> None:
        self._rows = rows

    def fetch_row(self, maxrows: int) -> tuple:
        assert maxrows == 0  # all rows: what Database asks for
        return self._rows


class FakeConnection:
    """TEST DOUBLE for a mysqlclient connection: the split-protocol calls that Database makes.

    fileno() is one end of a socketpair. The "server" answers by writing a byte to the other end, which
    is exactly what the event loop watches for; a silent one never does.
    """

    def __init__(self, silent: bool = False, error: Exception | None = None) -> None:
        self._ours, self._servers = socket.socketpair()
        self.silent = silent
        self.error = error
        self.extra_results = False
        self.sent: list[bytes] = []
        self.closed = False

    def literal(self, value: int) -> bytes:
        return str(int(value)).encode()

    def fileno(self) -> int:
        return self._ours.fileno()

    def send_query(self, sql: bytes) -> None:
        assert not self.closed
        self.sent.append(sql)
        if not self.silent:
            self._servers.send(b"!")

    def read_query_result(self) -> None:
        assert self._ours.recv(1) == b"!"  # never called before the answer is there
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
    """TEST DOUBLE for MySQLdb.connect: hands out FakeConnections, optionally held at a gate first."""

    def __init__(self) -> None:
        self.connections: list[FakeConnection] = []
        self.silent = False
        self.refusal: Exception | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def connect(self, **arguments) -> FakeConnection:
        assert arguments["multi_statements"] is False
        self.entered.set()
        assert self.gate.wait(HANG_GUARD_SECONDS), "the test never opened the gate"
        if self.refusal is not None:
            raise self.refusal
        self.connections.append(FakeConnection(silent=self.silent))
        return self.connections[-1]


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
        made.append(Database(Settings(**{"pool_size": 2, **settings}), connect=server.connect))
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


async def test_a_query_renders_its_values_and_its_connection_is_reused(database, server):
    assert await fetch(database) == ROWS
    assert await fetch(database) == ROWS
    [connection] = server.connections
    assert connection.sent == [b"SELECT id, username, email FROM Users WHERE id = 7"] * 2


async def test_values_may_be_named_like_the_parameters_of_fetch(database, server):
    statement = Statement(sql=b"SELECT %s, %s", parameters=("statement", "timeout"))
    await database.fetch(statement, {"statement": 1, "timeout": 2})
    assert server.connections[0].sent == [b"SELECT 1, 2"]


async def test_the_deadline_passing_while_waiting_for_the_answer_closes_the_connection(database, server):
    server.silent = True
    assert await failure(database, timeout=SOON) == "Database timed out"
    [connection] = server.connections
    assert len(connection.sent) == 1 and connection.closed  # its answer may still come: never reuse it


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
    assert not server.entered.is_set()


async def test_the_deadline_passing_during_connect_keeps_the_late_connection_for_the_next_request(
    database, server
):
    server.gate.clear()
    assert await failure(database, timeout=SOON) == "Database timed out"
    server.gate.set()
    await wait_for(lambda: database._idle, "the late connection in the pool")
    [connection] = server.connections
    assert connection.sent == [] and not connection.closed
    assert await fetch(database) == ROWS
    assert len(server.connections) == 1  # a slow server gets no more attempts than there are requests


async def test_cancelling_during_the_query_closes_the_connection_and_frees_the_slot(make_database, server):
    database = make_database(pool_size=1)
    server.silent = True
    request = asyncio.create_task(fetch(database))
    await wait_for(lambda: server.connections and server.connections[0].sent, "the query sent")
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert server.connections[0].closed
    server.silent = False
    assert await fetch(database) == ROWS  # the pool's only slot is free again


async def test_cancelling_during_connect_closes_the_connection_it_opens_and_frees_the_slot(
    make_database, server
):
    database = make_database(pool_size=1)
    server.gate.clear()
    request = asyncio.create_task(fetch(database))
    await asyncio.to_thread(server.entered.wait, HANG_GUARD_SECONDS)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    server.gate.set()
    await wait_for(lambda: server.connections and server.connections[0].closed, "the late connection closed")
    assert server.connections[0].sent == []
    assert await fetch(database) == ROWS  # on a new connection: the slot was freed
    assert len(server.connections) == 2


async def test_a_lost_connection_is_retried_once_on_a_fresh_one_and_the_idle_ones_are_dropped(
    database, server
):
    await asyncio.gather(fetch(database), fetch(database))  # two pooled connections
    stale = list(server.connections)
    assert len(stale) == 2
    for connection in stale:
        connection.error = LOST  # as after a MySQL restart
    assert await fetch(database) == ROWS
    assert all(connection.closed for connection in stale)
    assert len(server.connections) == 3


async def test_a_connection_lost_again_on_the_retry_gives_503_unavailable(database, server):
    await fetch(database)
    server.connections[0].error = LOST
    server.refusal = MySQLdb.OperationalError(2003, "Can't connect to server")
    assert await failure(database) == "Database unavailable"
    assert len(server.connections) == 1  # one retry, which failed to connect: no further attempt


async def test_an_error_that_is_not_a_lost_connection_is_not_retried(database, server):
    await fetch(database)
    server.connections[0].error = MySQLdb.OperationalError(1205, "Lock wait timeout exceeded")
    assert await failure(database) == "Database unavailable"
    assert server.connections[0].closed and len(server.connections) == 1


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


async def test_a_full_pool_answers_busy_after_the_pool_timeout(make_database, server):
    database = make_database(pool_size=1, pool_timeout=0.01)
    server.silent = True
    holder = asyncio.create_task(fetch(database))
    await wait_for(lambda: server.connections and server.connections[0].sent, "the pool's only slot taken")
    assert await failure(database) == "Database busy"
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder


async def test_waiting_for_a_slot_ends_at_the_request_deadline_not_after_the_pool_timeout(
    make_database, server
):
    database = make_database(pool_size=1, pool_timeout=60)
    server.silent = True
    holder = asyncio.create_task(fetch(database))
    await wait_for(lambda: server.connections and server.connections[0].sent, "the pool's only slot taken")
    # Were the 60 s pool timeout honoured past the deadline, the hang guard would fail this.
    assert await failure(database, timeout=SOON) == "Database busy"
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder


async def test_close_closes_the_idle_connections(database, server):
    await fetch(database)
    database.close()
    assert server.connections[0].closed
