"""The response shapes: published in /openapi.json, and used to validate and encode the answers."""

from typing import Literal

from pydantic import BaseModel, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12


class User(TypedDict):
    user_id: int
    username: str
    email: str


class ErrorDetail(BaseModel):
    """FastAPI's error shape, declared so the 404 and 503 responses appear in the docs."""

    detail: str


class Ready(BaseModel):
    """/ready's answer when the database responds."""

    detail: Literal["ready"]


# Rows are validated against the published shape and encoded in one pass by pydantic's Rust core.
USER = TypeAdapter(User)
USER_LIST = TypeAdapter(list[User])
