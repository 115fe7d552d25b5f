"""``GET /users/{username}/inbox`` for its owner (ActivityPub §5.2): what was delivered to the user.

The source is the durable inbound queue, filtered by the structured rule of ``c2s.inbox_rule``
(addressed to the user, about the user or their posts, or a public/followers post of an account they
follow). Newest first, in keyset pages: ``?page=1`` is the first, each ``next`` is ``?max_id=<n>`` (items
below the row ``n``), so every item stays reachable; ``totalItems`` is left out (AS2 makes it optional),
as counting would read the whole inbox. ``bto``/``bcc`` are never shown (§6).
Only the owner's token with ``read:statuses`` reads it; anyone else gets 401/403.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.c2s.inbox_rule import inbox_page, reader_for
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


def _positive(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is not None and (not raw.isdigit() or int(raw) < 1):
        raise BadActivity(f"{name}: a positive integer")
    return int(raw) if raw is not None else None


async def read_inbox(request: Request) -> Response:
    urls: Urls = request.app.state.urls
    page, max_id = _positive(request, "page"), _positive(request, "max_id")
    if page is not None and page != 1:
        raise BadActivity("page: only page=1; later pages are the next links (max_id)")
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:statuses")
        me = found.actor
        if me.username != request.path_params["username"]:
            raise WrongActor("only its owner reads an inbox")
        inbox_id = urls.inbox(me.username)
        if page is None and max_id is None:
            doc = ordered_collection(inbox_id, 0, f"{inbox_id}?page=1")
            del doc["totalItems"]
            return as2(doc)
        found_page = await inbox_page(session, await reader_for(session, me, urls), urls, max_id, PAGE_SIZE)
    page_id = f"{inbox_id}?max_id={max_id}" if max_id is not None else f"{inbox_id}?page=1"
    next_page = f"{inbox_id}?max_id={found_page.before}" if found_page.before is not None else None
    return as2(collection_page(page_id, inbox_id, [_shown(b) for b in found_page.items], next_page))


routes = [Route("/users/{username}/inbox", problem_json(read_inbox), methods=["GET"])]
