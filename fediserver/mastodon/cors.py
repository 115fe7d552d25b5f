"""CORS as Mastodon sets it (``config/initializers/cors.rb``): any origin, no credentials, on the API,
``/.well-known/*`` and the OAuth token endpoints; ``Link`` and the rate-limit headers are exposed so
browser apps (Phanpy, Elk) can page (clients.md §7, row 20).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIXES = ("/api/", "/.well-known/", "/nodeinfo/", "/oauth/token", "/oauth/revoke", "/oauth/userinfo")
EXPOSE = "Link, X-RateLimit-Reset, X-RateLimit-Limit, X-RateLimit-Remaining, X-Request-Id"
METHODS = "GET, POST, PUT, DELETE, PATCH, OPTIONS"


class MastodonCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            asked = headers.get(b"access-control-request-headers", b"")
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"access-control-allow-origin", b"*"),
                        (b"access-control-allow-methods", METHODS.encode()),
                        (b"access-control-allow-headers", asked or b"Authorization, Content-Type, Idempotency-Key"),
                        (b"access-control-max-age", b"7200"),
                        (b"content-type", b"application/json"),
                        (b"content-length", b"2"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b"{}"})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-expose-headers", EXPOSE.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_cors)
