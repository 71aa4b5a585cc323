"""The HTTP contract of userapi.routes, against a real server seeded from scripts/sql/users-seed.sql."""

import pytest

from devstack.mariadb import MariaDBServer

USER_KEYS = {"user_id", "username", "email"}


def seeded_user(mariadb: MariaDBServer, user_id: int) -> dict:
    query = f"SELECT username, email FROM Main.Users WHERE id = {int(user_id)}"  # noqa: S608 (an int)
    username, email = mariadb.sql(query).split()
    return {"user_id": user_id, "username": username, "email": email}


def test_status_returns_1(client):
    response = client.get("/status")
    assert response.status_code == 200
    assert response.content == b"1"
    assert response.headers["content-type"] == "application/json"


def test_ready_when_the_database_answers(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"detail": "ready"}


def test_users_lists_all_rows_ordered_by_id_with_exactly_three_keys(client, mariadb):
    response = client.get("/users")
    assert response.status_code == 200
    users = response.json()
    assert [user["user_id"] for user in users] == list(range(1, 101))
    assert all(set(user) == USER_KEYS for user in users)
    assert users[0] == seeded_user(mariadb, 1)
    assert users[99] == seeded_user(mariadb, 100)


@pytest.mark.parametrize("user_id", [1, 42, 100])
def test_one_user_by_id(client, mariadb, user_id):
    response = client.get(f"/users/{user_id}")
    assert response.status_code == 200
    assert response.json() == seeded_user(mariadb, user_id)


@pytest.mark.parametrize(
    "user_id",
    ["0", "101", "-1", "-2147483648", "2147483647", "2147483648", "99999999999999999999", "-" + "9" * 40],
)
def test_ids_that_match_no_row_are_404_unknown_user_id(client, user_id):
    response = client.get(f"/users/{user_id}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Unknown User ID"}


@pytest.mark.parametrize("user_id", ["abc", "1.5", "1e3", "%20", "0x10", "1;DROP TABLE Users"])
def test_non_integer_ids_are_422(client, user_id):
    response = client.get(f"/users/{user_id}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "user_id"]


def test_docs_serve_swagger_ui(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger-ui" in response.text


def test_openapi_documents_every_route_with_its_error_responses(client):
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "User API"
    assert spec["info"]["description"]
    paths = spec["paths"]
    assert set(paths) == {"/status", "/ready", "/users", "/users/{user_id}"}
    for path, operations in paths.items():
        responses = operations["get"]["responses"]
        assert "schema" in responses["200"]["content"]["application/json"], path
        if path != "/status":
            assert responses["503"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorDetail"
            }, path
    assert "404" in paths["/users/{user_id}"]["get"]["responses"]
    user_schema = spec["components"]["schemas"]["User"]
    assert set(user_schema["required"]) == USER_KEYS
