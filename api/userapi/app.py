"""Builds the FastAPI application around one Database."""

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Receive, Scope, Send

from .config import Settings
from .database import Database, DatabaseUnavailable
from .routes import RETRY_AFTER_SECONDS, add_routes

DESCRIPTION = """A read-only view of the `Main.Users` table.

`/status` is the liveness signal (the process only); `/ready` also checks the database.
When the database cannot answer, data routes return **503** with a JSON `detail`.
"""


# Longer URLs get 414, as from common proxies (nginx accepts 8 KB request lines by default). Beyond
# about 64 KB the HTTP parser itself refuses the request with a plain 400 before the app sees it.
MAX_URL_BYTES = 8192


class RejectLongUrls:
    """ASGI middleware: a 414 with FastAPI's JSON error shape for an overlong URL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = len(scope.get("raw_path") or scope["path"].encode()) + len(
                scope.get("query_string", b"")
            )
            if length > MAX_URL_BYTES:
                await JSONResponse({"detail": "URI Too Long"}, status_code=414)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def telemetry_config() -> TelemetryConfig | None:
    """FastAPI's own OpenTelemetry support (spans, metrics and logs once a provider is configured), or
    off when OTEL_SDK_DISABLED is true.

    OTEL_SDK_DISABLED is OpenTelemetry's own switch, not a setting of this service; like every boolean
    variable of the OpenTelemetry specification, only "true" (in any case) means true. Off, FastAPI
    also stops looking for providers on each request: about 30,000 instructions (doc/PERFORMANCE.md).
    """
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return {"tracing": False, "metrics": False, "logs": False}
    return None


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = Database(settings)
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's scans, which shortens the pauses that show up in tail latency.
        gc.freeze()
        try:
            yield
        finally:
            app.state.database.close()

    app = FastAPI(
        title="User API",
        description=DESCRIPTION,
        version="1.0.0",
        lifespan=lifespan,
        telemetry=telemetry_config(),
    )
    add_routes(app)
    app.add_middleware(RejectLongUrls)

    @app.exception_handler(DatabaseUnavailable)
    async def database_unavailable(request: Request, error: DatabaseUnavailable) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": str(error)},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    return app
