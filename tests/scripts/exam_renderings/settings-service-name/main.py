"""A learner's rendering with mistakes: pydantic-settings (DB_HOST, and the password under an alias), the
brief's typed path kept, and a plain string to execute()."""

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import create_engine
from sqlalchemy.engine import URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="db_")

    host: str = "127.0.0.1"
    user: str = "root"
    password: str = Field(validation_alias="MYSQL_ROOT_PASSWORD")
    name: str = "Main"


settings = Settings()
url = URL.create("mysql+mysqldb", settings.user, settings.password, settings.host, 3306, settings.name)
engine = create_engine(url)
server = FastAPI(title="User API")


class User(BaseModel):
    user_id: int
    username: str
    email: str


@server.get("/status")
def status():
    return 1


@server.get("/users")
def users():
    with engine.connect() as connection:
        rows = connection.execute("SELECT id, username, email FROM Users;").fetchall()
    return [User(user_id=row[0], username=row[1], email=row[2]) for row in rows]


@server.get("/users/{user_id:int}")
def user(user_id: int):
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT id, username, email FROM Users WHERE id = %s", (user_id,))
        row = rows.first()
    if row is None:
        raise HTTPException(status_code=404, detail="Unknown User ID")
    return User(user_id=row[0], username=row[1], email=row[2])
