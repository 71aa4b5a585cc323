"""MEASURING STICK for scripts/bench.py, not shipped code: the naive design of the reference log.

`async def` routes that call a synchronous SQLAlchemy engine on the event loop, a connection URL and SQL
built by string formatting, `exec_driver_sql`, pydantic models for the response, run by plain uvicorn
(asyncio loop, h11 parser). The image and the tests never import it.
"""

import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import create_engine

server = FastAPI(title="User API (naive baseline)")

connection_url = "mysql://{user}:{password}@{host}:{port}/{database}".format(
    user=os.environ.get("MYSQL_USER", "root"),
    password=os.environ.get("MYSQL_PASSWORD", ""),
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=os.environ.get("MYSQL_PORT", "3306"),
    database=os.environ.get("MYSQL_DATABASE", "Main"),
)
mysql_engine = create_engine(connection_url)


class User(BaseModel):
    user_id: int = 0
    username: str = ""
    email: str = ""


@server.get("/status")
async def get_status():
    return 1


@server.get("/users", response_model=list[User])
async def get_users():
    with mysql_engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT * FROM Users;").fetchall()
    return [User(user_id=row[0], username=row[1], email=row[2]) for row in rows]


@server.get("/users/{user_id}", response_model=User)
async def get_user(user_id: int):
    with mysql_engine.connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT * FROM Users WHERE Users.id = {user_id};").fetchall()  # noqa: S608
    if not rows:
        raise HTTPException(status_code=404, detail="Unknown User ID")
    return User(user_id=rows[0][0], username=rows[0][1], email=rows[0][2])
