# ruff: noqa: UP032 (a learner's file: the brief's format() kept)
"""A learner's rendering, correct: the provided main.py completed with os.environ and text()."""

import os

import uvicorn
from fastapi import FastAPI
from fastapi.exceptions import HTTPException
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import create_engine

# creating a FastAPI server
server = FastAPI(title="User API", description="Try it: curl http://localhost:8000/users")

# creating a connection to the database
mysql_url = os.environ.get("DB_HOST")
mysql_user = "root"
mysql_password = os.environ.get("DB_PASS")
database_name = "Main"

# recreating the URL connection
connection_url = "mysql://{user}:{password}@{url}/{database}".format(
    user=mysql_user, password=mysql_password, url=mysql_url, database=database_name
)

# creating the connection
mysql_engine = create_engine(connection_url)


# creating a User class
class User(BaseModel):
    user_id: int = 0
    username: str = "daniel"
    email: str = "daniel@datascientest.com"


@server.get("/status")
async def get_status():
    """Returns 1"""
    return 1


@server.get("/users")
async def get_users():
    with mysql_engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM Users;")).fetchall()
    return [User(user_id=row[0], username=row[1], email=row[2]) for row in rows]


@server.get("/users/{user_id}", response_model=User)
async def get_user(user_id: int):
    with mysql_engine.connect() as connection:
        query = text("SELECT * FROM Users WHERE Users.id = :id;")
        row = connection.execute(query, {"id": user_id}).first()
    if row is None:
        raise HTTPException(status_code=404, detail="Unknown User ID")
    return User(user_id=row[0], username=row[1], email=row[2])


if __name__ == "__main__":
    uvicorn.run(server, host="0.0.0.0", port=8000)
