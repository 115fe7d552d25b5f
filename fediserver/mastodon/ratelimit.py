"""Rate limits on ``/api/`` as Mastodon announces them (MD:/api/rate-limits/; ``rate_limit_headers.rb``).

Fixed windows per client: the access token (by digest) when one is sent, else the address. Every answer
carries ``X-RateLimit-Limit``, ``-Remaining`` (integers) and ``-Reset`` (ISO 8601 with six fraction digits,
as Mastodon sends; Mastodon.py raises on every call when these do not parse: clients.md row 30). Past the
limit: 429 ``{"error": "Too many requests"}``. The counters live in this process.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fediserver.config import ApiSettings

PREFIX = "/api/"


@dataclass
class FixedWindow:
    limit: int
    window: float
    clock: Callable[[], float] = time.time
    _counts: dict[str, tuple[float, int]] = field(default_factory=dict)

    def hit(self, key: str) -> tuple[int, float]:
        """Count one request; returns (remaining, window end as a Unix time). Remaining < 0 means refused."""
        now = self.clock()
        start = now - now % self.window
        began, count = self._counts.get(key, (start, 0))
        if began != start:
            count = 0
        count += 1
        self._counts[key] = (start, count)
        if len(self._counts) > 100_000:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == start}
        return self.limit - count, start + self.window


def _key(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return "t:" + hashlib.sha256(value[7:].strip()).hexdigest()
    client = scope.get("client")
    return f"ip:{client[0] if client else '?'}"


def reset_header(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RateLimit:
    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.window = FixedWindow(settings.rate_limit_requests, settings.rate_limit_window_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(PREFIX) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        remaining, reset = self.window.hit(_key(scope))
        headers = [
            (b"x-ratelimit-limit", str(self.window.limit).encode()),
            (b"x-ratelimit-remaining", str(max(0, remaining)).encode()),
            (b"x-ratelimit-reset", reset_header(reset).encode()),
        ]
        if remaining < 0:
            body = json.dumps({"error": "Too many requests"}).encode()
            start: Message = {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    *headers,
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(max(1, int(reset - time.time()))).encode()),
                ],
            }
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
