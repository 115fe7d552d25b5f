"""Bookmarks and pins on statuses (MD:/methods/statuses/#bookmark, #pin, and their undo), through the
domain's ``bookmarks`` and ``profiles``. All four are idempotent, as in Mastodon: a repeat answers with
the status."""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import bookmarks, profiles
from fediserver.errors import Conflict, InvalidInput, NotFound
from fediserver.mastodon import lookup
from fediserver.mastodon.auth import caller
from fediserver.mastodon.http import ok, services, urls
from fediserver.mastodon.present import Presenter


def _mark(action: str, scope: str) -> Route:
    async def handler(request: Request) -> Response:
        async with request.app.state.sessions() as session:
            found = await caller(request, session, scope)
            me = urls(request).actor(found.actor.username)
            note = await lookup.status(session, request.path_params["id"], me)
            svc = services(request)
            if action == "bookmark":
                await bookmarks.bookmark(svc, session, found.actor, note.uri)
            elif action == "unbookmark":
                await bookmarks.unbookmark(svc, session, found.actor, note.uri)
            elif note.local_actor_id != found.actor.id:
                # Mastodon's StatusPinValidator: only one's own statuses.
                raise InvalidInput("Validation failed: you can only pin your own statuses")
            elif action == "pin":
                try:
                    await profiles.pin(svc, session, found.actor, note.uri)
                except Conflict as exc:
                    raise InvalidInput(f"Validation failed: {exc.message}") from None
            else:
                # Not pinned: nothing to undo, and Mastodon answers with the status all the same.
                with contextlib.suppress(NotFound):
                    await profiles.unpin(svc, session, found.actor, note.uri)
            await session.commit()
            return ok(await Presenter(session, urls(request), me).status(note))

    return Route(f"/api/v1/statuses/{{id}}/{action}", handler, methods=["POST"])


routes = [
    _mark("bookmark", "write:bookmarks"),
    _mark("unbookmark", "write:bookmarks"),
    _mark("pin", "write:accounts"),
    _mark("unpin", "write:accounts"),
]
