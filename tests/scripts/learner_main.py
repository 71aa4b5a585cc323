"""A learner's rendering of the exam's main.py: the provided file with the brief's fixes, written the way a
learner would (module-level settings, SQL through text() with bound parameters). tests/scripts/
test_check_exam.py copies it into an exam folder and edits it one change at a time; nothing imports it.
"""

import os

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

server = FastAPI(title="User API", description="User API", version="1.0.1")

# The API container reaches the MySQL container of its own Pod over the shared loopback.
mysql_url = os.getenv("MYSQL_HOST", "127.0.0.1")
mysql_port = int(os.getenv("MYSQL_PORT", "3306"))
mysql_user = os.getenv("MYSQL_USER", "root")
mysql_password = os.environ["MYSQL_PASSWORD"]
database_name = os.getenv("MYSQL_DATABASE", "Main")

connection_url = URL.create(
    "mysql+mysqldb",
    username=mysql_user,
    password=mysql_password,
    host=mysql_url,
    port=mysql_port,
    database=database_name,
)
mysql_engine = create_engine(connection_url)


class User(BaseModel):
    user_id: int = 0
    username: str = "daniel"
    email: str = "daniel@datascientest.com"


@server.get("/status")
def get_status():
    """Returns 1"""
    return 1


@server.get("/users")
def get_users():
    with mysql_engine.connect() as connection:
        results = connection.execute(text("SELECT id, username, email FROM Users;"))
        rows = results.fetchall()
    return [User(user_id=row[0], username=row[1], email=row[2]) for row in rows]


@server.get("/users/{user_id}", response_model=User)
def get_user(user_id: int):
    with mysql_engine.connect() as connection:
        results = connection.execute(
            text("SELECT id, username, email FROM Users WHERE id = :user_id;"), {"user_id": user_id}
        )
        row = results.first()
    if row is None:
        raise HTTPException(status_code=404, detail="Unknown User ID")
    return User(user_id=row[0], username=row[1], email=row[2])
