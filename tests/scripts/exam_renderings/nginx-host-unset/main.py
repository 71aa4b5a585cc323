# ruff: noqa: S608, UP032 (a learner's file, mistakes included)
"""A learner's rendering with mistakes: a host variable the Deployment never sets, and SQL built with
format() on the one-user route."""

import os

from fastapi import FastAPI
from fastapi.exceptions import HTTPException
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import create_engine

server = FastAPI(title="User API", version="1.0.1")

mysql_url = os.getenv("MYSQL_HOST")
mysql_user = "root"
mysql_password = os.getenv("MYSQL_ROOT_PASSWORD")
database_name = "Main"

connection_url = f"mysql://{mysql_user}:{mysql_password}@{mysql_url}/{database_name}"
mysql_engine = create_engine(connection_url)


class User(BaseModel):
    user_id: int = 0
    username: str = "daniel"
    email: str = "daniel@datascientest.com"


@server.get("/status")
async def get_status():
    return 1


@server.get("/users")
async def get_users():
    with mysql_engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM Users;")).fetchall()
    return [User(user_id=row[0], username=row[1], email=row[2]) for row in rows]


@server.get("/users/{user_id}", response_model=User)
async def get_user(user_id: int):
    with mysql_engine.connect() as connection:
        query = text("SELECT * FROM Users WHERE Users.id = {};".format(user_id))
        row = connection.execute(query).first()
    if row is None:
        raise HTTPException(status_code=404, detail="Unknown User ID")
    return User(user_id=row[0], username=row[1], email=row[2])
