"""Queries on Main.Users, compiled once, and their answers in the published shape."""

from collections.abc import Sequence

from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select, text

from .database import Database, Row, Statement
from .models import User

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

# Keyset pagination on the primary key: the server seeks to after_id and reads `rows` rows (at most
# MAX_PAGE_SIZE + 1), however deep the page (OFFSET would read and drop every row before it).
USER_PAGE = Statement.compile(
    select(*COLUMNS).where(USERS.c.id > bindparam("after_id")).order_by(USERS.c.id).limit(bindparam("rows"))
)
ONE_USER = Statement.compile(select(*COLUMNS).where(USERS.c.id == bindparam("user_id")))
PING = Statement.compile(text("SELECT 1"))


def as_users(rows: Sequence[Row]) -> list[User]:
    return [{"user_id": user_id, "username": username, "email": email} for user_id, username, email in rows]


async def user_page(database: Database, limit: int, after_id: int | None) -> tuple[list[User], int | None]:
    """Up to `limit` users with ids above after_id, and the id the next page starts after (None: none)."""
    # Any integer is a valid after_id; clamped to just outside the column's range, it selects the same
    # rows and the server compares INT with INT.
    below_all = INT_COLUMN_RANGE.start - 1
    lowest = below_all if after_id is None else min(max(after_id, below_all), INT_COLUMN_RANGE.stop - 1)
    # One row more than asked tells whether another page exists, without a COUNT.
    rows = await database.fetch(USER_PAGE, {"after_id": lowest, "rows": limit + 1})
    page = rows[:limit]
    return as_users(page), page[-1][0] if len(rows) > limit else None


async def one_user(database: Database, user_id: int) -> User | None:
    rows = await database.fetch(ONE_USER, {"user_id": user_id})
    return as_users(rows)[0] if rows else None  # the primary key: one row at most


async def ping(database: Database, timeout: float) -> None:
    await database.fetch(PING, timeout=timeout)
