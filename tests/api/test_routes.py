"""The HTTP contract of main.py, in-process: status codes, bodies, headers, pagination, 422s, 503s.

TEST DOUBLES (named here as the house rules ask): FakeDatabase and FailingDatabase stand in for
database.Database, injected through FastAPI's dependency system. The SQL itself and the real
process are tested against MariaDB in test_database.py, test_pagination.py and test_deadlines.py.
"""

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import pytest

import main
from database import DatabaseUnavailable, Row, Statement
from main import (
    READINESS_DEADLINE_SECONDS,
    RETRY_AFTER_SECONDS,
    get_database,
    server,
    telemetry_config,
)

pytestmark = pytest.mark.anyio

USER_KEYS = {"user_id", "username", "email"}


def table(count: int) -> list[Row]:
    return [(n, f"user{n}", f"user{n}@example.org") for n in range(1, count + 1)]


class FakeDatabase:
    """TEST DOUBLE for Database: answers main.py's statements from rows held in memory, as SQL would."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.calls: list[tuple[Statement, Mapping[str, Any], float | None]] = []

    async def fetch(
        self, statement: Statement, values: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> tuple[Row, ...]:
        values = values or {}
        self.calls.append((statement, values, timeout))
        if statement is main.USER_PAGE:
            return tuple(row for row in self.rows if row[0] > values["after_id"])[: values["rows"]]
        if statement is main.ONE_USER:
            return tuple(row for row in self.rows if row[0] == values["user_id"])
        if statement is main.PING:
            return ((1,),)
        raise AssertionError(f"unexpected statement {statement.sql!r}")


class FailingDatabase:
    """TEST DOUBLE for Database: every call fails the way Database reports a failure."""

    def __init__(self, detail: str) -> None:
        self.detail = detail

    async def fetch(self, statement: Statement, values=None, *, timeout=None) -> tuple[Row, ...]:
        raise DatabaseUnavailable(self.detail)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_overrides() -> Iterator[None]:
    yield
    server.dependency_overrides.clear()


async def client_of(database, root_path: str = "") -> httpx.AsyncClient:
    """A client of the app (main.server), whose database is `database`."""

    async def the_double():
        return database

    server.dependency_overrides[get_database] = the_double
    transport = httpx.ASGITransport(app=server, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://api")


@pytest.fixture
def seed() -> FakeDatabase:
    return FakeDatabase(table(100))


@pytest.fixture
async def client(seed: FakeDatabase) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_of(seed) as session:
        yield session


async def get_page(database: FakeDatabase, url: str) -> httpx.Response:
    async with await client_of(database) as session:
        return await session.get(url)


def ids(response: httpx.Response) -> list[int]:
    return [user["user_id"] for user in response.json()]


async def test_status_returns_1_without_touching_the_database(client, seed):
    response = await client.get("/status")
    assert (response.status_code, response.content) == (200, b"1")
    assert response.headers["content-type"] == "application/json"
    assert seed.calls == []


async def test_ready_pings_with_its_own_one_second_deadline(client, seed):
    response = await client.get("/ready")
    assert (response.status_code, response.json()) == (200, {"detail": "ready"})
    assert seed.calls == [(main.PING, {}, READINESS_DEADLINE_SECONDS)]


async def test_users_beyond_the_default_page_carries_a_next_link():
    response = await get_page(FakeDatabase(table(101)), "/users")
    assert ids(response) == list(range(1, 101))
    assert response.headers["link"] == '</users?limit=100&after_id=100>; rel="next"'


@pytest.mark.parametrize(
    ("url", "expected_ids", "link"),
    [
        ("/users?limit=5&after_id=2498", [2499, 2500], None),
        ("/users?limit=2&after_id=2497", [2498, 2499], '</users?limit=2&after_id=2499>; rel="next"'),
        ("/users?limit=3&after_id=2497", [2498, 2499, 2500], None),  # exactly the rest: no next page
        ("/users?limit=1", [1], '</users?limit=1&after_id=1>; rel="next"'),
        ("/users?after_id=2500", [], None),
        ("/users?after_id=-5&limit=2", [1, 2], '</users?limit=2&after_id=2>; rel="next"'),
        ("/users?after_id=" + "9" * 40, [], None),
        ("/users?after_id=-" + "9" * 40 + "&limit=1", [1], '</users?limit=1&after_id=1>; rel="next"'),
    ],
)
async def test_pagination_edges(url, expected_ids, link):
    response = await get_page(FakeDatabase(table(2500)), url)
    assert response.status_code == 200
    assert ids(response) == expected_ids
    assert response.headers.get("link") == link


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("limit=x", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("after_id=x", "after_id"),
        ("after_id=1.5", "after_id"),
        ("after_id=", "after_id"),
    ],
)
async def test_bad_page_parameters_are_422_naming_the_parameter(client, seed, query, parameter):
    response = await client.get(f"/users?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", parameter]
    assert seed.calls == []


@pytest.mark.parametrize("user_id", [1, 42, 100])
async def test_one_user_by_id(client, user_id):
    response = await client.get(f"/users/{user_id}")
    assert response.status_code == 200
    assert response.json() == {
        "user_id": user_id,
        "username": f"user{user_id}",
        "email": f"user{user_id}@example.org",
    }


@pytest.mark.parametrize("user_id", ["0", "101", "-1", "2147483647"])
async def test_ids_that_match_no_row_are_404_unknown_user_id(client, user_id):
    response = await client.get(f"/users/{user_id}")
    assert (response.status_code, response.json()) == (404, {"detail": "Unknown User ID"})


@pytest.mark.parametrize("user_id", ["2147483648", "-2147483649", "99999999999999999999", "-" + "9" * 40])
async def test_ids_outside_the_int_column_are_404_without_a_query(client, seed, user_id):
    response = await client.get(f"/users/{user_id}")
    assert (response.status_code, response.json()) == (404, {"detail": "Unknown User ID"})
    assert seed.calls == []


@pytest.mark.parametrize("user_id", ["abc", "1.5", "1e3", "%20", "0x10", "1;DROP TABLE Users"])
async def test_non_integer_ids_are_422(client, user_id):
    response = await client.get(f"/users/{user_id}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "user_id"]


@pytest.mark.parametrize("path", ["/ready", "/users", "/users?limit=5&after_id=3", "/users/1"])
async def test_a_failing_database_gives_503_with_its_detail_and_status_still_answers(path):
    async with await client_of(FailingDatabase("Database busy")) as session:
        response = await session.get(path)
        assert (response.status_code, response.json()) == (503, {"detail": "Database busy"})
        assert response.headers["content-type"] == "application/json"
        assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert (await session.get("/status")).status_code == 200


async def test_openapi_documents_every_route_with_its_error_responses(client):
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert set(paths) == {"/status", "/ready", "/users", "/users/{user_id}"}
    for path, operations in paths.items():
        responses = operations["get"]["responses"]
        assert "schema" in responses["200"]["content"]["application/json"], path
        if path == "/status":
            assert "503" not in responses  # the process only: never the database
        else:
            assert responses["503"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorDetail"
            }, path
            assert responses["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}, path
            assert "Retry-After" in responses["503"]["description"], path
    assert "404" in paths["/users/{user_id}"]["get"]["responses"]
    users = paths["/users"]["get"]
    assert {parameter["name"] for parameter in users["parameters"]} == {"limit", "after_id"}
    assert users["responses"]["200"]["headers"]["Link"]["schema"] == {"type": "string"}
    assert paths["/ready"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Ready"
    }
    assert set(spec["components"]["schemas"]["User"]["required"]) == USER_KEYS


def test_otel_sdk_disabled_true_switches_fastapis_telemetry_off_and_is_its_default_otherwise(monkeypatch):
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    assert telemetry_config() is None
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert telemetry_config() == {"tracing": False, "metrics": False, "logs": False}
