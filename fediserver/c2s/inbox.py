"""``GET /users/{username}/inbox`` for its owner (ActivityPub §5.2): what was delivered to the user.

The source is the durable inbound queue: activities POSTed to the user's own inbox, plus those that came
through the shared inbox and name the user (by URI, anywhere in the body: ``to``, ``cc``, a ``Mention``)
or come from an actor the user follows. Newest first, paged; ``bto``/``bcc`` are never shown (§6).
Only the owner's token with ``read:statuses`` reads it; anyone else gets 401/403.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, desc, func, or_, select
from sqlalchemy.sql.elements import ColumnElement
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.c2s.problems import problem_json
from fediserver.c2s.submission import BadActivity, WrongActor
from fediserver.federation.render import collection_page, ordered_collection
from fediserver.mastodon.auth import caller
from fediserver.models import Follow, InboundActivity, LocalActor
from fediserver.routes.responses import as2
from fediserver.urls import Urls

PAGE_SIZE = 20
HIDDEN = ("bto", "bcc")


def delivered_to(me: LocalActor, urls: Urls) -> ColumnElement[bool]:
    me_uri = urls.actor(me.username)
    followed = select(Follow.followed_uri).where(Follow.follower_uri == me_uri, Follow.state == "accepted")
    shared = InboundActivity.recipient_actor_id.is_(None)
    return or_(
        InboundActivity.recipient_actor_id == me.id,
        shared & InboundActivity.actor_uri.in_(followed),
        # JSON text keeps the quotes around a string, so ".../alice" does not match ".../alice2".
        shared & cast(InboundActivity.body, String).contains(f'"{me_uri}"'),
    )


def _shown(body: dict[str, Any]) -> dict[str, Any]:
    doc = {k: v for k, v in body.items() if k not in HIDDEN}
    if isinstance(doc.get("object"), dict):
        doc["object"] = {k: v for k, v in doc["object"].items() if k not in HIDDEN}
    return doc


async def read_inbox(request: Request) -> Response:
    urls: Urls = request.app.state.urls
    raw = request.query_params.get("page")
    if raw is not None and (not raw.isdigit() or int(raw) < 1):
        raise BadActivity("page: a positive integer")
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:statuses")
        me = found.actor
        if me.username != request.path_params["username"]:
            raise WrongActor("only its owner reads an inbox")
        inbox_id = urls.inbox(me.username)
        where = delivered_to(me, urls)
        total = await session.scalar(select(func.count()).select_from(InboundActivity).where(where)) or 0
        if raw is None:
            return as2(ordered_collection(inbox_id, total, f"{inbox_id}?page=1"))
        page = int(raw)
        rows = list(
            await session.scalars(
                select(InboundActivity.body)
                .where(where)
                .order_by(desc(InboundActivity.id))
                .offset((page - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            )
        )
    next_page = f"{inbox_id}?page={page + 1}" if page * PAGE_SIZE < total else None
    return as2(collection_page(f"{inbox_id}?page={page}", inbox_id, [_shown(b) for b in rows], next_page))


routes = [Route("/users/{username}/inbox", problem_json(read_inbox), methods=["GET"])]
