"""Keyset pagination of GET /users end to end: the real process on a real MariaDB, seeded and large.

The edges of the contract (every 422, empty pages, out-of-range ids, the last page) are tested
in-process in test_routes.py; here the SQL itself walks a table of 2,500 users, and uvicorn's
--root-path reaches the Link header.
"""

from collections.abc import Iterator

import httpx
import pytest

from devstack.api import ApiProcess
from devstack.mariadb import MariaDBServer
from support.canary import DB_PASSWORD
from support.http import http_client

USER_COUNT = 2500
# The seed has ids 1-100; MariaDB's sequence engine supplies the rest: seq_101_to_2500 is a table of them.
MORE_USERS = """USE Main;
INSERT INTO Users (id, username, email)
SELECT seq, CONCAT('user', seq), CONCAT('user', seq, '@example.org') FROM seq_101_to_2500;"""


def seeded_user(mariadb: MariaDBServer, user_id: int) -> dict:
    query = f"SELECT username, email FROM Main.Users WHERE id = {int(user_id)}"  # noqa: S608 (an int)
    username, email = mariadb.sql(query).split()
    return {"user_id": user_id, "username": username, "email": email}


def ids(response: httpx.Response) -> list[int]:
    return [user["user_id"] for user in response.json()]


@pytest.fixture(scope="module")
def large() -> Iterator[httpx.Client]:
    """A client of the API on a server of its own with 2,500 users; the tests only read it."""
    with MariaDBServer(DB_PASSWORD) as server:
        server.sql(MORE_USERS)
        assert server.sql("SELECT COUNT(*) FROM Main.Users").strip() == str(USER_COUNT)
        with ApiProcess(server.env()) as api, http_client(base_url=api.base_url, timeout=10) as client:
            yield client


def test_on_the_seed_users_lists_all_100_rows_in_order_and_no_next_link(client, mariadb):
    response = client.get("/users")
    assert response.status_code == 200
    assert ids(response) == list(range(1, 101))
    assert response.json()[0] == seeded_user(mariadb, 1)
    assert response.json()[99] == seeded_user(mariadb, 100)
    assert "link" not in response.headers


def test_following_the_next_links_from_the_largest_page_yields_every_id_once_in_order(large):
    seen: list[int] = []
    url: str | None = "/users?limit=1000"
    while url is not None:
        response = large.get(url)
        assert response.status_code == 200
        assert len(response.json()) <= 1000
        seen += ids(response)
        url = response.links.get("next", {}).get("url")
    assert seen == list(range(1, USER_COUNT + 1))


def test_behind_a_proxy_under_api_the_next_link_starts_with_api(mariadb):
    # What a proxy that serves the API under /api runs: `uvicorn main:server --root-path /api`.
    with (
        ApiProcess(mariadb.env(), extra_args=("--root-path", "/api")) as api,
        http_client(base_url=api.base_url, timeout=10) as client,
    ):
        response = client.get("/users?limit=3")
    assert ids(response) == [1, 2, 3]
    assert response.headers["link"] == '</api/users?limit=3&after_id=3>; rel="next"'
