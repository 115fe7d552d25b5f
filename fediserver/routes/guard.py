"""``NulGuard``: refuse a request target carrying NUL before any route sees it (issue 8).

A percent-encoded ``%00`` in the path or the query decodes to a NUL that PostgreSQL refuses in text
parameters (an error, so a 500) and the OS refuses in file names; no URL we serve has one.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class NulGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]):
            response = JSONResponse({"error": "NUL in the request path or query"}, status_code=400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
