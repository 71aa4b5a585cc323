"""The shapes of the query and the answers: published in /openapi.json, validated and encoded by FastAPI."""

from typing import Literal

from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

# A page of users holds at most MAX_PAGE_SIZE rows, so no answer the API reads is unbounded.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


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


class UserPage(BaseModel):
    """The query of GET /users: which page of users. Unknown parameters are ignored, as FastAPI does."""

    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="How many users at most.")
    after_id: int | None = Field(
        None, description="Only users with a greater user_id; omit it to start at the first."
    )
