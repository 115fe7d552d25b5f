"""``InboxFirst``: POSTs to the inboxes go to their routes straight past the API's layers.

The inboxes take most requests of a busy instance, and none of the layers between starlette's error
handler and the router does anything for them: CORS and the rate limit apply to the client API's paths
only, the NUL guard's refusal is kept (a path with NUL goes the normal way), and the inbox answers every
refusal itself. Each layer still cost a coroutine call on the way in and a wrapped ``send`` on the way out
(docs/benchmarks.md). Matching uses the inbox's own ``Route`` objects, so its URLs stay defined once.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send


class InboxFirst:
    def __init__(self, app: ASGIApp, routes: Sequence[Route]) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and "\x00" not in scope["path"]:
            for route in self.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    await route.handle(scope, receive, send)
                    return
        await self.app(scope, receive, send)
