"""The response shapes published in /openapi.json."""

from pydantic import BaseModel, ConfigDict, TypeAdapter


class User(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: int
    username: str
    email: str


class ErrorDetail(BaseModel):
    """FastAPI's error shape, declared so the 404 and 503 responses appear in the docs."""

    detail: str


USER_LIST = TypeAdapter(list[User])
