"""Who favourited and who boosted a status (MD:/methods/statuses/#favourited_by, #reblogged_by), paged
by favourite or boost id; a status the caller may not see is a 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import reactions
from fediserver.domain.paging import Window
from fediserver.mastodon import lookup
from fediserver.mastodon.auth import optional_caller
from fediserver.mastodon.cursors import id_window
from fediserver.mastodon.http import ok, urls
from fediserver.mastodon.pagination import link_header
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import Presenter
from fediserver.models import Note

Lister = Callable[[AsyncSession, Note, Window], Awaitable[list[tuple[int, str]]]]


def _who(path: str, lister: Lister) -> Route:
    async def handler(request: Request) -> Response:
        params = await read_params(request)
        async with request.app.state.sessions() as session:
            found = await optional_caller(request, session, "read:accounts")
            viewer = urls(request).actor(found.actor.username) if found and found.user else None
            note = await lookup.status(session, request.path_params["id"], viewer)
            rows = await lister(session, note, id_window(params))
            accounts = await Presenter(session, urls(request), viewer).accounts(uri for _, uri in rows)
        kept = [(row_id, accounts[uri]) for row_id, uri in rows if uri in accounts]
        link = link_header(request, urls(request), [str(row_id) for row_id, _ in rows])
        return ok([account for _, account in kept], headers={"Link": link} if link else None)

    return Route(f"/api/v1/statuses/{{id}}/{path}", handler)


routes = [_who("favourited_by", reactions.favourited_by), _who("reblogged_by", reactions.reblogged_by)]
