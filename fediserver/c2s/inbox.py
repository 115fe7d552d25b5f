"""``GET /users/{username}/inbox`` for its owner (ActivityPub §5.2): what was delivered to the user.

The source is the durable inbound queue, filtered by the structured rule of ``c2s.inbox_rule``
(addressed to the user, about the user or their posts, or a public/followers post of an account they
follow). Newest first, paged; ``bto``/``bcc`` are never shown (§6).
Only the owner's token with ``read:statuses`` reads it; anyone else gets 401/403.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.c2s.inbox_rule import inbox_items, reader_for
from fediserver.c2s.problems import problem_json
from fediserver.c2s.submission import BadActivity, WrongActor
from fediserver.federation.render import collection_page, ordered_collection
from fediserver.mastodon.auth import caller
from fediserver.routes.responses import as2
from fediserver.urls import Urls

PAGE_SIZE = 20
HIDDEN = ("bto", "bcc")


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
        items = await inbox_items(session, await reader_for(session, me, urls), urls)
    total = len(items)
    if raw is None:
        return as2(ordered_collection(inbox_id, total, f"{inbox_id}?page=1"))
    page = int(raw)
    rows = items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    next_page = f"{inbox_id}?page={page + 1}" if page * PAGE_SIZE < total else None
    return as2(collection_page(f"{inbox_id}?page={page}", inbox_id, [_shown(b) for b in rows], next_page))


routes = [Route("/users/{username}/inbox", problem_json(read_inbox), methods=["GET"])]
