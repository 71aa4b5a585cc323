"""The HTTP contract: /status, /ready, /users and /users/{user_id}."""

from fastapi import APIRouter, HTTPException, Request, Response

from . import users
from .database import Database
from .models import ErrorDetail, User

UNKNOWN_USER = "Unknown User ID"
# Readiness must answer within the probe's timeoutSeconds (2 s in the Deployment), so it gets its own
# deadline, shorter than the query timeout.
READINESS_DEADLINE_SECONDS = 1.0

router = APIRouter()

DATABASE_DOWN = {503: {"model": ErrorDetail, "description": "The database cannot answer right now"}}


class JSONBody(Response):
    """A response whose body is already encoded JSON."""

    media_type = "application/json"


def database_of(request: Request) -> Database:
    return request.app.state.database


@router.get(
    "/status",
    response_model=int,
    summary="Liveness: the process is up",
    description="Always returns 1 and never touches the database, so a slow database cannot get a "
    "healthy process restarted.",
)
async def status() -> Response:
    return JSONBody(b"1")


@router.get(
    "/ready",
    response_model=ErrorDetail,
    summary="Readiness: the database answers",
    description="Returns 200 when `SELECT 1` succeeds within a second, 503 otherwise.",
    responses=DATABASE_DOWN,
)
async def ready(request: Request) -> Response:
    await users.ping(database_of(request), timeout=READINESS_DEADLINE_SECONDS)
    return JSONBody(b'{"detail":"ready"}')


@router.get(
    "/users",
    response_model=list[User],
    summary="All users, ordered by user_id",
    responses=DATABASE_DOWN,
)
async def list_users(request: Request) -> Response:
    return JSONBody(await users.all_users_json(database_of(request)))


@router.get(
    "/users/{user_id}",
    response_model=User,
    summary="One user",
    responses={404: {"model": ErrorDetail, "description": UNKNOWN_USER}, **DATABASE_DOWN},
)
async def get_user(user_id: int, request: Request) -> Response:
    if user_id not in users.INT_COLUMN_RANGE:
        raise HTTPException(status_code=404, detail=UNKNOWN_USER)
    body = await users.one_user_json(database_of(request), user_id)
    if body is None:
        raise HTTPException(status_code=404, detail=UNKNOWN_USER)
    return JSONBody(body)
