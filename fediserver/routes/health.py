"""``GET /health``: is the process up and can it reach its database."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fediserver import __version__

log = logging.getLogger("fediserver.health")


async def health(request: Request) -> JSONResponse:
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        log.error("health check: database unreachable", extra={"error": str(exc)})
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "version": __version__, "database": "ok"})


routes = [Route("/health", health, methods=["GET", "HEAD"])]
