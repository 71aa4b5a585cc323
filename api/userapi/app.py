"""Builds the FastAPI application around one Database."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .config import Settings
from .database import Database, DatabaseUnavailable
from .routes import router

DESCRIPTION = """A read-only view of the `Main.Users` table.

`/status` is the liveness signal (the process only); `/ready` also checks the database.
When the database cannot answer, data routes return **503** with a JSON `detail`.
"""


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

    app = FastAPI(title="User API", description=DESCRIPTION, version="1.0.0", lifespan=lifespan)
    app.include_router(router)

    @app.exception_handler(DatabaseUnavailable)
    async def database_unavailable(request: Request, error: DatabaseUnavailable) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(error)})

    return app
