"""The caller's bookmarks and favourites (MD:/methods/bookmarks/, MD:/methods/favourites/): statuses,
newest bookmark or favourite first, paged by the bookmark or favourite id (the ``Link`` header carries
those ids, not the statuses')."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import bookmarks, reactions
from fediserver.mastodon.auth import caller
from fediserver.mastodon.cursors import id_window
from fediserver.mastodon.http import ok, urls
from fediserver.mastodon.pagination import link_header
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import Presenter
from fediserver.models import Note
from fediserver.notes import may_see


async def _page(request: Request, me: str, rows: list[tuple[int, Note]], presenter: Presenter) -> Response:
    visible = [(row_id, note) for row_id, note in rows if await may_see(presenter.session, note, me)]
    entities = await presenter.statuses([note for _, note in visible])
    link = link_header(request, urls(request), [str(row_id) for row_id, _ in rows])
    return ok(entities, headers={"Link": link} if link else None)


async def bookmarked(request: Request) -> Response:
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:bookmarks")
        me = urls(request).actor(found.actor.username)
        rows = await bookmarks.bookmarked(session, found.actor, window=id_window(params))
        pairs = [(mark.id, note) for mark, note in rows]
        return await _page(request, me, pairs, Presenter(session, urls(request), me))


async def favourited(request: Request) -> Response:
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:favourites")
        me = urls(request).actor(found.actor.username)
        rows = await reactions.favourites(session, me, id_window(params))
        return await _page(request, me, rows, Presenter(session, urls(request), me))


routes = [
    Route("/api/v1/bookmarks", bookmarked),
    Route("/api/v1/favourites", favourited),
]
