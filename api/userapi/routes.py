"""The HTTP contract: /status, /ready, /users and /users/{user_id}."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from . import users
from .database import Database
from .models import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ErrorDetail, Ready, User, UserPage

UNKNOWN_USER = "Unknown User ID"
# Readiness must answer within the probe's timeoutSeconds (2 s in the Deployment), so it gets its own
# deadline, shorter than the query timeout; pool wait and connecting count against it too.
READINESS_DEADLINE_SECONDS = 1.0
USERS_PATH = "/users"

DATABASE_DOWN = {503: {"model": ErrorDetail, "description": "The database cannot answer right now"}}
NEXT_PAGE_LINK = {
    "description": 'Present when more users follow: `</users?limit=N&after_id=LAST>; rel="next"` '
    "(RFC 8288), LAST being the last user_id of this page.",
    "schema": {"type": "string"},
}


# (path, FastAPI route options, endpoint), registered on each app by add_routes().
ROUTES: list[tuple[str, dict[str, Any], Callable[..., Any]]] = []


def route(path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Like APIRouter.get: records a GET route, for add_routes() to put on the app."""

    def record(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        ROUTES.append((path, options, endpoint))
        return endpoint

    return record


def add_routes(app: FastAPI) -> None:
    """Register the routes on the app's own router.

    Not an APIRouter and app.include_router(): this FastAPI keeps an included router as a layer of its
    own, which matches every request twice (doc/PERFORMANCE.md has the cost). Routes on the app's own
    router also see app.dependency_overrides, which tests use.
    """
    for path, options, endpoint in ROUTES:
        app.get(path, **options)(endpoint)


class JSONBody(Response):
    """A response whose body is already encoded JSON."""

    media_type = "application/json"


async def get_database(request: Request) -> Database:
    """The app's one Database (made at start-up); tests replace it through app.dependency_overrides."""
    return request.app.state.database


DatabaseDep = Annotated[Database, Depends(get_database)]

# GET /users reads its query itself, with the same validation and 422 body as FastAPI's declared query
# parameters. Those are processed on every request, query string or not, at a cost doc/PERFORMANCE.md
# shows; here the common case, the first page, costs nothing. PAGE_PARAMETERS documents them to match
# UserPage (tests/api/test_routes.py checks both).
FIRST_PAGE = UserPage()
PAGE_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "How many users at most.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
    },
    {
        "name": "after_id",
        "in": "query",
        "required": False,
        "description": "Only users with a greater user_id; omit it to start at the first.",
        "schema": {"type": "integer"},
    },
]
VALIDATION_ERROR = {
    "description": "Validation Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
}


def page_of(request: Request) -> UserPage:
    if not request.scope["query_string"]:
        return FIRST_PAGE
    try:
        return UserPage.model_validate(dict(request.query_params))
    except ValidationError as error:
        raise RequestValidationError(
            [{**detail, "loc": ("query", *detail["loc"])} for detail in error.errors(include_url=False)]
        ) from None


@route(
    "/status",
    response_model=int,
    summary="Liveness: the process is up",
    description="Always returns 1 and never touches the database, so a slow database cannot get a "
    "healthy process restarted.",
)
async def status() -> Response:
    return JSONBody(b"1")


@route(
    "/ready",
    response_model=Ready,
    summary="Readiness: the database answers",
    description="Returns 200 when `SELECT 1` succeeds within a second, 503 otherwise.",
    responses=DATABASE_DOWN,
)
async def ready(database: DatabaseDep) -> Response:
    await users.ping(database, timeout=READINESS_DEADLINE_SECONDS)
    return JSONBody(b'{"detail":"ready"}')


@route(
    USERS_PATH,
    response_model=list[User],
    summary="Users, ordered by user_id, one page at a time",
    description="Keyset pagination: at most `limit` users with `user_id` greater than `after_id`. "
    "When more follow, the `Link` header points to the next page.",
    responses={200: {"headers": {"Link": NEXT_PAGE_LINK}}, 422: VALIDATION_ERROR, **DATABASE_DOWN},
    openapi_extra={"parameters": PAGE_PARAMETERS},
)
async def list_users(request: Request, database: DatabaseDep) -> Response:
    page = page_of(request)
    body, last_id = await users.user_page_json(database, page.limit, page.after_id)
    if last_id is None:
        return JSONBody(body)
    link = f'<{USERS_PATH}?limit={page.limit}&after_id={last_id}>; rel="next"'
    return JSONBody(body, headers={"Link": link})


@route(
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
