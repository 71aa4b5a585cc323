"""Queries on Main.Users. They run on a worker thread and return the JSON body, ready to send.

Validating and encoding on the worker thread keeps that CPU work off the event loop, and pydantic's
Rust encoder does it in one pass instead of FastAPI's generic jsonable_encoder round trip.
"""

from sqlalchemy import Connection, text

from .models import USER_LIST, User

# The column is a signed INT: an id outside this range cannot exist, so it never reaches the database.
INT_COLUMN_RANGE = range(-(2**31), 2**31)

# The column is aliased to the API's field name so a row maps straight onto the model.
ALL_USERS = text("SELECT id AS user_id, username, email FROM Users ORDER BY id")
ONE_USER = text("SELECT id AS user_id, username, email FROM Users WHERE id = :user_id")


def all_users_json(connection: Connection) -> bytes:
    rows = connection.execute(ALL_USERS).all()
    return USER_LIST.dump_json(USER_LIST.validate_python(rows))


def one_user_json(connection: Connection, user_id: int) -> bytes | None:
    row = connection.execute(ONE_USER, {"user_id": user_id}).first()
    return None if row is None else User.model_validate(row).model_dump_json().encode()


def ping(connection: Connection) -> None:
    connection.execute(text("SELECT 1")).scalar_one()
