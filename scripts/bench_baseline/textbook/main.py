"""MEASURING STICK for scripts/bench.py, not shipped code: the contract written the way the FastAPI and
SQLAlchemy docs teach it.

- `def` routes that touch the database: FastAPI runs them in its thread pool, so a slow query never
  holds the event loop. The connection reaches them as a dependency.
- One SQLAlchemy engine with its QueuePool: pool_size=5 like the project's MYSQL_POOL_SIZE default
  (SQLAlchemy's max_overflow of 10 on top), and pool_pre_ping=True so a connection that died with the
  server is replaced before use.
- SQL as `text()` with bound parameters; settings from the environment with pydantic-settings; pydantic
  models as the response_model.

It runs under the same uvicorn as the project (uvloop and httptools). The image and the tests never
import it.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import URL, Connection, create_engine, text


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MYSQL_")

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    database: str = "Main"


settings = Settings()
engine = create_engine(
    URL.create(
        "mysql+mysqldb",
        username=settings.user,
        password=settings.password,
        host=settings.host,
        port=settings.port,
        database=settings.database,
    ),
    pool_size=5,
    pool_pre_ping=True,
)


def get_connection() -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection


ConnectionDep = Annotated[Connection, Depends(get_connection)]


class User(BaseModel):
    user_id: int
    username: str
    email: str


server = FastAPI(title="User API (textbook baseline)")


@server.get("/status")
async def status() -> int:
    return 1  # no I/O, so no thread needed


@server.get("/users", response_model=list[User])
def list_users(connection: ConnectionDep, offset: int = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    rows = connection.execute(
        text("SELECT id AS user_id, username, email FROM Users ORDER BY id LIMIT :limit OFFSET :offset"),
        {"limit": limit, "offset": offset},
    )
    return rows.mappings().all()


@server.get("/users/{user_id}", response_model=User)
def get_user(user_id: int, connection: ConnectionDep):
    row = (
        connection.execute(
            text("SELECT id AS user_id, username, email FROM Users WHERE id = :user_id"),
            {"user_id": user_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise HTTPException(status_code=404, detail="Unknown User ID")
    return row
