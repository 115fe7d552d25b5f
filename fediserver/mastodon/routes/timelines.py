"""Timelines (docs.joinmastodon.org/methods/timelines/): home, public (local/remote/only_media), tag.

Which posts come from ``fediserver.domain.timelines``; each page is one selecting statement plus a fixed
number for what it shows (``Presenter.timeline``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import timelines
from fediserver.mastodon.auth import caller, optional_caller
from fediserver.mastodon.http import paged, urls
from fediserver.mastodon.pagination import Page
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import Presenter


async def home(request: Request) -> Response:
    """The caller's home timeline (``fediserver.domain.timelines.home``), boosts included."""
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        me = (await caller(request, session, "read:statuses")).actor
        reader = timelines.Reader(actor=me, uri=urls(request).actor(me.username))
        entries = await timelines.home(session, reader, Page.from_params(params))
        presenter = Presenter(session, urls(request), reader.uri, me)
        return paged(request, await presenter.timeline(entries))


async def _reader(request: Request) -> timelines.Reader | None:
    async with request.app.state.sessions() as session:
        found = await optional_caller(request, session, "read:statuses")
    return timelines.Reader.of(urls(request), found.actor if found and found.user else None)


async def public(request: Request) -> Response:
    params = await read_params(request)
    reader = await _reader(request)
    async with request.app.state.sessions() as session:
        notes = await timelines.public(
            session,
            reader,
            Page.from_params(params),
            local=params.flag("local"),
            remote=params.flag("remote"),
            only_media=params.flag("only_media"),
        )
        presenter = Presenter(session, urls(request), reader.uri if reader else None, reader.actor if reader else None)
        return paged(request, await presenter.statuses(notes))


async def tag(request: Request) -> Response:
    params = await read_params(request)
    reader = await _reader(request)
    async with request.app.state.sessions() as session:
        notes = await timelines.tag(
            session,
            reader,
            request.path_params["hashtag"].lstrip("#"),
            Page.from_params(params),
            local=params.flag("local"),
            remote=params.flag("remote"),
            only_media=params.flag("only_media"),
        )
        presenter = Presenter(session, urls(request), reader.uri if reader else None, reader.actor if reader else None)
        return paged(request, await presenter.statuses(notes))


routes = [
    Route("/api/v1/timelines/home", home),
    Route("/api/v1/timelines/public", public),
    Route("/api/v1/timelines/tag/{hashtag}", tag),
]
