"""The HTTP contract: /status, /ready, /users and /users/{user_id}."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from . import users
from .database import Database
from .models import ErrorDetail, Ready, User

UNKNOWN_USER = "Unknown User ID"
# Readiness must answer within the probe's timeoutSeconds (2 s in the Deployment), so it gets its own
# deadline, shorter than the query timeout; pool wait and connecting count against it too.
READINESS_DEADLINE_SECONDS = 1.0
USERS_PATH = "/users"

router = APIRouter()

DATABASE_DOWN = {503: {"model": ErrorDetail, "description": "The database cannot answer right now"}}
NEXT_PAGE_LINK = {
    "description": 'Present when more users follow: `</users?limit=N&after_id=LAST>; rel="next"` '
    "(RFC 8288), LAST being the last user_id of this page.",
    "schema": {"type": "string"},
}


class JSONBody(Response):
    """A response whose body is already encoded JSON."""

    media_type = "application/json"


async def get_database(request: Request) -> Database:
    """The app's one Database (made at start-up); tests replace it through app.dependency_overrides."""
    return request.app.state.database


DatabaseDep = Annotated[Database, Depends(get_database)]


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
    response_model=Ready,
    summary="Readiness: the database answers",
    description="Returns 200 when `SELECT 1` succeeds within a second, 503 otherwise.",
    responses=DATABASE_DOWN,
)
async def ready(database: DatabaseDep) -> Response:
    await users.ping(database, timeout=READINESS_DEADLINE_SECONDS)
    return JSONBody(b'{"detail":"ready"}')


@router.get(
    USERS_PATH,
    response_model=list[User],
    summary="Users, ordered by user_id, one page at a time",
    description="Keyset pagination: at most `limit` users with `user_id` greater than `after_id`. "
    "When more follow, the `Link` header points to the next page.",
    responses={200: {"headers": {"Link": NEXT_PAGE_LINK}}, **DATABASE_DOWN},
)
async def list_users(
    database: DatabaseDep,
    limit: Annotated[
        int, Query(ge=1, le=users.MAX_PAGE_SIZE, description="How many users at most.")
    ] = users.DEFAULT_PAGE_SIZE,
    after_id: Annotated[
        int | None, Query(description="Only users with a greater user_id; omit it to start at the first.")
    ] = None,
) -> Response:
    body, last_id = await users.user_page_json(database, limit, after_id)
    if last_id is None:
        return JSONBody(body)
    return JSONBody(body, headers={"Link": f'<{USERS_PATH}?limit={limit}&after_id={last_id}>; rel="next"'})


@router.get(
    "/users/{user_id}",
    response_model=User,
    summary="One user",
    responses={404: {"model": ErrorDetail, "description": UNKNOWN_USER}, **DATABASE_DOWN},
)
async def get_user(user_id: int, database: DatabaseDep) -> Response:
    if user_id not in users.INT_COLUMN_RANGE:
        raise HTTPException(status_code=404, detail=UNKNOWN_USER)
    body = await users.one_user_json(database, user_id)
    if body is None:
        raise HTTPException(status_code=404, detail=UNKNOWN_USER)
    return JSONBody(body)
