"""``InboxFirst``: inbox POSTs reach the inbox's routes directly; everything else goes the normal way."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from fediserver.routes.inbox_first import InboxFirst


class _Recorder:
    def __init__(self, name: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.name = name
        self.calls = calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append((self.name, dict(scope.get("path_params", {}))))


def _scope(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"", "headers": []}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/inbox", ("shared", {})),
        ("POST", "/users/alice/inbox", ("personal", {"username": "alice"})),
        ("GET", "/users/alice/inbox", ("rest", {})),  # the owner's C2S read is another route's
        ("POST", "/users/alice/outbox", ("rest", {})),
        ("POST", "/users/a\x00b/inbox", ("rest", {})),  # NulGuard, further in, refuses it
        ("POST", "/api/v1/statuses", ("rest", {})),
    ],
)
async def test_inbox_first__routes_only_inbox_posts_past_the_other_layers(
    method: str, path: str, expected: tuple[str, dict[str, Any]]
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    routes = [
        Route("/inbox", _Recorder("shared", calls), methods=["POST"]),
        Route("/users/{username}/inbox", _Recorder("personal", calls), methods=["POST"]),
    ]
    app = InboxFirst(_Recorder("rest", calls), routes)

    async def receive() -> Any:
        raise AssertionError("not read here")

    async def send(message: Any) -> None:
        raise AssertionError("nothing sent here")

    await app(_scope(method, path), receive, send)
    assert calls == [expected]
