"""Instance, discovery and the endpoints answered with valid empty results until their features exist.

Unknown ``/api/`` paths answer a JSON 404: Tusky and Elk fall back to older endpoints only on 404
(clients.md §7, row 27).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable

from sqlalchemy import distinct, func, select
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from fediserver.domain import site
from fediserver.mastodon.auth import caller
from fediserver.mastodon.entities.instance import instance_v1, instance_v2
from fediserver.mastodon.entities.status import VISIBILITY_OUT
from fediserver.mastodon.http import ok, paged, urls
from fediserver.models import Note, RemoteActor, User

Endpoint = Callable[[Request], Awaitable[Response]]
# 1x1 grey PNG: the placeholder avatar, header and thumbnail (Mastodon serves missing.png).
PLACEHOLDER_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCBd81ytgAAAABJRU5ErkJggg=="
)


async def v2(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        users = await session.scalar(select(func.count()).select_from(User)) or 0
        settings = await site.effective(session, request.app.state.settings)
    return ok(instance_v2(settings, urls(request), users))


async def v1(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        users = await session.scalar(select(func.count()).select_from(User)) or 0
        statuses = await session.scalar(
            select(func.count()).select_from(Note).where(Note.local_actor_id.is_not(None), Note.deleted_at.is_(None))
        )
        domains = await session.scalar(select(func.count(distinct(RemoteActor.domain))))
        settings = await site.effective(session, request.app.state.settings)
    return ok(instance_v1(settings, urls(request), users, statuses or 0, domains or 0))


async def preferences(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:accounts")
    user = found.user
    assert user is not None  # caller() requires a user token
    return ok(
        {
            "posting:default:visibility": VISIBILITY_OUT[user.default_visibility],
            "posting:default:sensitive": user.default_sensitive,
            "posting:default:language": user.default_language,
            "reading:expand:media": "default",
            "reading:expand:spoilers": False,
        }
    )


def _empty_list(scope: str | None, *, paginated: bool = False) -> Endpoint:
    async def handler(request: Request) -> Response:
        if scope is not None:
            async with request.app.state.sessions() as session:
                await caller(request, session, scope)
        return paged(request, []) if paginated else ok([])

    return handler


def _empty_object(scope: str | None) -> Endpoint:
    async def handler(request: Request) -> Response:
        if scope is not None:
            async with request.app.state.sessions() as session:
                await caller(request, session, scope)
        return ok({})

    return handler


async def streaming_health(request: Request) -> Response:
    return PlainTextResponse("OK")


async def placeholder(request: Request) -> Response:
    return Response(PLACEHOLDER_PNG, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})


async def not_found(request: Request) -> Response:
    return ok({"error": "Record not found"}, 404)


routes = [
    Route("/api/v2/instance", v2),
    Route("/api/v2/instance/", v2),
    Route("/api/v1/instance", v1),
    Route("/api/v1/instance/", v1),
    Route("/api/v1/preferences", preferences),
    Route("/api/v1/custom_emojis", _empty_list(None)),
    Route("/api/v1/markers", _empty_object("read:statuses")),
    Route("/api/v2/filters", _empty_list("read:filters")),
    Route("/api/v1/filters", _empty_list("read:filters")),
    Route("/api/v1/lists", _empty_list("read:lists")),
    Route("/api/v1/announcements", _empty_list("read")),
    Route("/api/v1/trends", _empty_list(None)),
    Route("/api/v1/trends/tags", _empty_list(None)),
    Route("/api/v1/trends/statuses", _empty_list(None)),
    Route("/api/v1/trends/links", _empty_list(None)),
    Route("/api/v2/suggestions", _empty_list("read")),
    Route("/api/v1/streaming/health", streaming_health),
    Route("/api/static/{name:str}", placeholder),
]
# Last in the route table: every other /api path is a JSON 404.
fallback = [Route("/api/{rest:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
