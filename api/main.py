"""User API: a read-only view of Main.Users, run as `uvicorn main:server`. Top to bottom: the settings, the
SQL, the answers' shapes, the routes, the app. The pool is database.py beside it."""

import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select, text
from sqlalchemy.engine import URL
from starlette.types import ASGIApp, Receive, Scope, Send
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from database import Database, DatabaseUnavailable, Row, Statement


# The settings: read once from the environment, under the names the manifests use.
class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, frozen=True, extra="ignore")

    # 127.0.0.1, not "localhost": mysqlclient takes that for the Unix socket, which is in the db container.
    MYSQL_HOST: str = Field("127.0.0.1", min_length=1)
    MYSQL_PORT: int = Field(3306, ge=1, le=65535)
    MYSQL_USER: str = Field("root", min_length=1)
    # Filled from the Secret, never written here. SecretStr keeps it out of repr(), logs and tracebacks.
    MYSQL_PASSWORD: SecretStr = SecretStr("")
    MYSQL_DATABASE: str = Field("Main", min_length=1)
    # Seconds. A request's whole database deadline: waiting for a connection, connecting and the query
    # (the server stops the query then too). At least 0.1, since it ends 50 ms early for the answer.
    MYSQL_REQUEST_TIMEOUT: float = Field(2, ge=0.1, le=60)
    # Each read while connecting, and the driver's socket timeouts: both restart with every byte. The
    # driver reports its socket timeout as a lost connection, so it must outlast the request's deadline.
    MYSQL_CONNECT_TIMEOUT: int = Field(2, ge=1, le=60)
    MYSQL_SOCKET_TIMEOUT: int = Field(30, ge=1, le=3600)
    # At most MYSQL_POOL_SIZE connections; a request that gets none within MYSQL_POOL_TIMEOUT gets a 503.
    # A connection idle longer than MYSQL_POOL_MAX_IDLE is replaced (NAT entries expire on quiet ones).
    MYSQL_POOL_SIZE: int = Field(5, ge=1, le=100)
    MYSQL_POOL_TIMEOUT: float = Field(0.5, gt=0, le=60)
    MYSQL_POOL_MAX_IDLE: float = Field(60, gt=0, le=86400)
    # TLS, for a MySQL outside the Pod (not the sidecar): VERIFY_* check its certificate with MYSQL_SSL_CA.
    MYSQL_SSL_MODE: Literal["DISABLED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"] = "DISABLED"
    MYSQL_SSL_CA: str = Field("", validate_default=True)

    @field_validator("MYSQL_SSL_CA")
    @classmethod
    def ca_for_verifying_modes(cls, ca: str, info: ValidationInfo) -> str:
        mode = info.data.get("MYSQL_SSL_MODE")  # None: MYSQL_SSL_MODE is wrong, and reported
        if mode and mode.startswith("VERIFY") != bool(ca):
            raise ValueError("a CA file, set with MYSQL_SSL_MODE VERIFY_CA or VERIFY_IDENTITY and only then")
        if ca and not (os.path.isfile(ca) and os.access(ca, os.R_OK)):
            raise ValueError("not a readable file")  # the value is not repeated: it may be a secret
        return ca

    @field_validator("MYSQL_SOCKET_TIMEOUT")
    @classmethod
    def socket_outlasts_request(cls, seconds: int, info: ValidationInfo) -> int:
        if seconds <= info.data.get("MYSQL_REQUEST_TIMEOUT", 0):
            raise ValueError("must be more than MYSQL_REQUEST_TIMEOUT")
        return seconds


def load_settings() -> Settings:
    """The settings; a bad one stops start-up with one line that names it, never its value."""
    if "MYSQL_READ_TIMEOUT" in os.environ:
        sys.exit("user-api: MYSQL_READ_TIMEOUT is now called MYSQL_REQUEST_TIMEOUT: set that instead")
    try:
        return Settings()
    except ValidationError as error:
        problems = error.errors(include_input=False, include_url=False)
        sys.exit("user-api: invalid setting " + "; ".join(f"{p['loc'][0]}: {p['msg']}" for p in problems))


settings = load_settings()


# The SQL: SQLAlchemy Core, every value a bound parameter, compiled once.
USERS = Table(
    "Users",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False),
    Column("email", String(255), nullable=False),
)
# id is published as user_id; the rows come back in this column order.
COLUMNS = (USERS.c.id.label("user_id"), USERS.c.username, USERS.c.email)
# The column is a signed INT: an id outside this range matches no row, so it never reaches the database.
INT_COLUMN_RANGE = range(-(2**31), 2**31)
# Keyset pagination: the server seeks to after_id, however deep the page (OFFSET reads every row before).
USER_PAGE = Statement.compile(
    select(*COLUMNS).where(USERS.c.id > bindparam("after_id")).order_by(USERS.c.id).limit(bindparam("rows"))
)
ONE_USER = Statement.compile(select(*COLUMNS).where(USERS.c.id == bindparam("user_id")))
PING = Statement.compile(text("SELECT 1"))


# The shapes of the query and the answers, published in /openapi.json.
class User(TypedDict):
    user_id: int
    username: str
    email: str


def as_users(rows: Sequence[Row]) -> list[User]:
    return [{"user_id": user_id, "username": username, "email": email} for user_id, username, email in rows]


class ErrorDetail(BaseModel):  # FastAPI's error shape, declared for the docs of the 404 and 503
    detail: str


class Ready(BaseModel):
    detail: Literal["ready"]


class UserPage(BaseModel):  # the query of GET /users; unknown parameters are ignored, as FastAPI does
    limit: int = Field(100, ge=1, le=1000, description="How many users at most.")
    after_id: int | None = Field(None, description="Only users with a greater user_id; omit it to start.")


# The routes.
UNKNOWN_USER = "Unknown User ID"
# /ready must answer within the readiness probe's timeoutSeconds (2 s), whatever the request timeout.
READINESS_DEADLINE_SECONDS = 1.0
# Sent with every 503: the readiness probe's period. By then the Pod is out of rotation, or answers again.
RETRY_AFTER_SECONDS = 5
# 414 past 8 KB, as common proxies answer (beyond about 64 KB uvicorn's parser answers 400 itself).
MAX_URL_BYTES = 8192
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
DOWN = "The database cannot answer now: ask again after `Retry-After` seconds."
DATABASE_DOWN = {503: {"model": ErrorDetail, "description": DOWN, "headers": RETRY_AFTER}}
LINK = 'When more users follow: `</users?limit=N&after_id=LAST>; rel="next"`'
NEXT_PAGE = {"headers": {"Link": {"description": LINK, "schema": {"type": "string"}}}}
NOT_FOUND = {404: {"model": ErrorDetail, "description": UNKNOWN_USER}}

router = APIRouter()


# The app's one Database, made at start-up; tests replace it through server.dependency_overrides.
async def get_database(request: Request) -> Database:
    return request.app.state.database


DatabaseDep = Annotated[Database, Depends(get_database)]


@router.get("/status", summary="Liveness: the process is up, whatever the database does")
async def status() -> int:
    return 1


@router.get("/ready", summary="Readiness: the database answers within a second", responses=DATABASE_DOWN)
async def ready(database: DatabaseDep) -> Ready:
    await database.fetch(PING, timeout=READINESS_DEADLINE_SECONDS)
    return Ready(detail="ready")


@router.get("/users", summary="A page of users, by user_id", responses=DATABASE_DOWN | {200: NEXT_PAGE})
async def list_users(
    page: Annotated[UserPage, Query()], database: DatabaseDep, request: Request, response: Response
) -> list[User]:
    # Any integer is a valid after_id; clamped to just outside the column's range it selects the same rows.
    lowest = INT_COLUMN_RANGE.start - 1 if page.after_id is None else page.after_id
    lowest = min(max(lowest, INT_COLUMN_RANGE.start - 1), INT_COLUMN_RANGE.stop - 1)
    # One row more than asked tells whether another page follows, without a COUNT.
    rows = await database.fetch(USER_PAGE, {"after_id": lowest, "rows": page.limit + 1})
    if len(rows) > page.limit:
        # Relative to the root path a proxy serves the API under (uvicorn --root-path).
        next_page = f"{request.scope.get('root_path', '')}/users?limit={page.limit}"
        response.headers["Link"] = f'<{next_page}&after_id={rows[page.limit - 1][0]}>; rel="next"'
    return as_users(rows[: page.limit])


@router.get("/users/{user_id}", summary="One user", responses=NOT_FOUND | DATABASE_DOWN)
async def get_user(user_id: int, database: DatabaseDep) -> User:
    rows = await database.fetch(ONE_USER, {"user_id": user_id}) if user_id in INT_COLUMN_RANGE else ()
    if not rows:
        raise HTTPException(status_code=404, detail=UNKNOWN_USER)
    return as_users(rows)[0]


# The errors that are not a route's: the database down, and URLs too long to be ours.
async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse({"detail": str(error)}, status_code=503, headers=headers)


class RejectLongUrls:  # ASGI middleware: a 414 in FastAPI's JSON error shape for an overlong URL
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("raw_path") or scope["path"].encode()
            if len(path) + len(scope.get("query_string", b"")) > MAX_URL_BYTES:
                await JSONResponse({"detail": "URI Too Long"}, status_code=414)(scope, receive, send)
                return
        await self.app(scope, receive, send)


# The app.
def telemetry_config() -> dict[str, bool] | None:
    """FastAPI's own OpenTelemetry support, unless OpenTelemetry's switch OTEL_SDK_DISABLED is true."""
    off = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return {"tracing": False, "metrics": False, "logs": False} if off else None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # URL.create quotes each part, so a password with "@", "/" or ":" stays one password.
    url = URL.create(
        "mysql+mysqldb",
        username=settings.MYSQL_USER,
        password=settings.MYSQL_PASSWORD.get_secret_value(),
        host=settings.MYSQL_HOST,
        port=settings.MYSQL_PORT,
        database=settings.MYSQL_DATABASE,
    )
    app.state.database = Database(
        url,
        request_timeout=settings.MYSQL_REQUEST_TIMEOUT,
        connect_timeout=settings.MYSQL_CONNECT_TIMEOUT,
        socket_timeout=settings.MYSQL_SOCKET_TIMEOUT,
        pool_size=settings.MYSQL_POOL_SIZE,
        pool_timeout=settings.MYSQL_POOL_TIMEOUT,
        pool_max_idle=settings.MYSQL_POOL_MAX_IDLE,
        ssl_mode=settings.MYSQL_SSL_MODE,
        ssl_ca=settings.MYSQL_SSL_CA,
    )
    try:
        yield
    finally:
        app.state.database.close()


server = FastAPI(
    title="User API",
    description="A read-only view of `Main.Users`. `/status` is liveness (the process only); `/ready` "
    "also checks the database. When the database cannot answer, data routes return **503**.",
    version="1.0.0",
    lifespan=lifespan,
    telemetry=telemetry_config(),
    exception_handlers={DatabaseUnavailable: database_unavailable},
)
server.include_router(router)
server.add_middleware(RejectLongUrls)
