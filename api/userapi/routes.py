"""The HTTP contract: /status, /ready, /users and /users/{user_id}."""

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response

from . import users
from .database import Database
from .models import ErrorDetail, Ready, User, UserPage

UNKNOWN_USER = "Unknown User ID"
# Readiness must answer within the probe's timeoutSeconds (2 s in the Deployment), so it gets its own
# deadline, shorter than the query timeout; pool wait and connecting count against it too.
READINESS_DEADLINE_SECONDS = 1.0
# Sent with every 503: the readiness probe's period in the Deployment. By then /ready has been asked
# again, so the Service has either taken this Pod out of rotation or the database answers again.
RETRY_AFTER_SECONDS = 5
USERS_PATH = "/users"

DATABASE_DOWN = {
    503: {
        "model": ErrorDetail,
        "description": "The database cannot answer right now; try again after `Retry-After` seconds.",
        "headers": {
            "Retry-After": {
                "description": f"Seconds to wait before asking again (always {RETRY_AFTER_SECONDS}).",
                "schema": {"type": "integer"},
            }
        },
    }
}
NEXT_PAGE_LINK = {
    "description": 'Present when more users follow: `</users?limit=N&after_id=LAST>; rel="next"` '
    "(RFC 8288), LAST being the last user_id of this page; under a root path, the link starts with it.",
    "schema": {"type": "string"},
}


async def get_database(request: Request) -> Database:
    """The app's one Database (made at start-up); tests replace it through app.dependency_overrides."""
    return request.app.state.database


DatabaseDep = Annotated[Database, Depends(get_database)]


def add_routes(app: FastAPI) -> None:
    """Declare the routes on the app's own router.

    Not an APIRouter and app.include_router(): in this FastAPI an included router stays a layer of its
    own, which each request goes through as well. That costs 7-22% more app-level instructions per
    request (doc/PERFORMANCE.md); declared here, on the app, the routes cost none of it.
    """

    @app.get(
        "/status",
        summary="Liveness: the process is up",
        description="Always returns 1 and never touches the database, so a slow database cannot get a "
        "healthy process restarted.",
    )
    async def status() -> int:
        return 1

    @app.get(
        "/ready",
        summary="Readiness: the database answers",
        description="Returns 200 when `SELECT 1` succeeds within a second, 503 otherwise.",
        responses=DATABASE_DOWN,
    )
    async def ready(database: DatabaseDep) -> Ready:
        await users.ping(database, timeout=READINESS_DEADLINE_SECONDS)
        return Ready(detail="ready")

    @app.get(
        USERS_PATH,
        summary="Users, ordered by user_id, one page at a time",
        description="Keyset pagination: at most `limit` users with `user_id` greater than `after_id`. "
        "When more follow, the `Link` header points to the next page.",
        responses={200: {"headers": {"Link": NEXT_PAGE_LINK}}, **DATABASE_DOWN},
    )
    # FastAPI reads the declared query on every request, query string or not: with its response
    # handling, about 15% more app-level instructions on /users than reading the query by hand did
    # (doc/PERFORMANCE.md). Separate `limit` and `after_id` parameters cost the same.
    async def list_users(
        page: Annotated[UserPage, Query()], database: DatabaseDep, request: Request, response: Response
    ) -> list[User]:
        found, last_id = await users.user_page(database, page.limit, page.after_id)
        if last_id is not None:
            # Relative to the server, under the root path a proxy serves the API at (uvicorn --root-path).
            next_page = request.scope.get("root_path", "") + USERS_PATH
            response.headers["Link"] = f'<{next_page}?limit={page.limit}&after_id={last_id}>; rel="next"'
        return found

    @app.get(
        "/users/{user_id}",
        summary="One user",
        responses={404: {"model": ErrorDetail, "description": UNKNOWN_USER}, **DATABASE_DOWN},
    )
    async def get_user(user_id: int, database: DatabaseDep) -> User:
        if user_id not in users.INT_COLUMN_RANGE:
            raise HTTPException(status_code=404, detail=UNKNOWN_USER)
        found = await users.one_user(database, user_id)
        if found is None:
            raise HTTPException(status_code=404, detail=UNKNOWN_USER)
        return found
