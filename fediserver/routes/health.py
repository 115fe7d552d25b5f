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


def _worker_state(request: Request) -> str:
    """``off`` when this process runs no worker (``serve --no-worker``, or a separate ``fediserver worker``);
    ``primary`` in a sibling web process (``server.processes``), whose instance's worker runs in the first
    process, which this one outlives by a moment at most (``fediserver.siblings``)."""
    task = getattr(request.app.state, "worker_task", None)
    if task is None:
        return "primary" if getattr(request.app.state, "sibling", False) else "off"
    return str(task.state)


async def health(request: Request) -> JSONResponse:
    """200 when the database answers and the in-process worker (if any) is running; 503 otherwise."""
    worker = _worker_state(request)
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        log.error("health check: database unreachable", extra={"error": str(exc)})
        return JSONResponse({"status": "error", "database": "unreachable", "worker": worker}, status_code=503)
    if worker not in ("off", "primary", "starting", "running"):
        log.error("health check: worker not running", extra={"worker": worker})
        return JSONResponse({"status": "error", "database": "ok", "worker": worker}, status_code=503)
    return JSONResponse({"status": "ok", "version": __version__, "database": "ok", "worker": worker})


routes = [Route("/health", health, methods=["GET", "HEAD"])]
