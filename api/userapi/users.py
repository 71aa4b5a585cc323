"""Queries on Main.Users, compiled once, and their answers encoded as the JSON body to send."""

from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select, text

from .database import Database, Statement
from .models import USER, USER_LIST

# The column is a signed INT: an id outside this range cannot exist, so it never reaches the database.
INT_COLUMN_RANGE = range(-(2**31), 2**31)

USERS = Table(
    "Users",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False),
    Column("email", String(255), nullable=False),
)
# id is published as user_id; the rows come back in this column order.
COLUMNS = (USERS.c.id.label("user_id"), USERS.c.username, USERS.c.email)

ALL_USERS = Statement.compile(select(*COLUMNS).order_by(USERS.c.id))
ONE_USER = Statement.compile(select(*COLUMNS).where(USERS.c.id == bindparam("user_id")))
PING = Statement.compile(text("SELECT 1"))


def as_user(row: tuple) -> dict:
    user_id, username, email = row
    return {"user_id": user_id, "username": username, "email": email}


async def all_users_json(database: Database) -> bytes:
    rows = await database.fetch(ALL_USERS)
    return USER_LIST.dump_json(USER_LIST.validate_python([as_user(row) for row in rows]))


async def one_user_json(database: Database, user_id: int) -> bytes | None:
    rows = await database.fetch(ONE_USER, user_id=user_id)
    if not rows:
        return None
    return USER.dump_json(USER.validate_python(as_user(rows[0])))


async def ping(database: Database, timeout: float) -> None:
    await database.fetch(PING, timeout=timeout)
