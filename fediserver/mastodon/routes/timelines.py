"""Timelines (docs.joinmastodon.org/methods/timelines/): home, public (local/remote/only_media), tag."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, or_, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain.moderation import in_public_feeds
from fediserver.mastodon.auth import caller, optional_caller
from fediserver.mastodon.http import paged, urls
from fediserver.mastodon.pagination import Page
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import Presenter
from fediserver.models import Follow, MediaAttachment, Note


async def _page(request: Request, query: Select[Any], viewer: str | None, page: Page) -> Response:
    async with request.app.state.sessions() as session:
        notes = list(await session.scalars(page.apply(query, Note.published_at, Note.id)))
        if page.ascending:
            notes.reverse()
        return paged(request, await Presenter(session, urls(request), viewer).statuses(notes))


def _only_media(query: Select[Any]) -> Select[Any]:
    return query.where(exists().where(MediaAttachment.note_id == Note.id))


async def home(request: Request) -> Response:
    """The caller's statuses and those of accounts they follow (``federation.following.home_timeline``'s rule)."""
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:statuses")
    me = urls(request).actor(found.actor.username)
    followed = select(Follow.followed_uri).where(Follow.follower_uri == me, Follow.state == "accepted")
    query = select(Note).where(
        or_(Note.attributed_to == me, Note.attributed_to.in_(followed)),
        Note.deleted_at.is_(None),
        Note.visibility != "direct",
    )
    return await _page(request, query, me, Page.from_params(params))


async def public(request: Request) -> Response:
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await optional_caller(request, session, "read:statuses")
    viewer = urls(request).actor(found.actor.username) if found and found.user else None
    query = select(Note).where(Note.visibility == "public", Note.deleted_at.is_(None), in_public_feeds())
    if params.flag("local"):
        query = query.where(Note.local_actor_id.is_not(None))
    elif params.flag("remote"):
        query = query.where(Note.local_actor_id.is_(None))
    if params.flag("only_media"):
        query = _only_media(query)
    return await _page(request, query, viewer, Page.from_params(params))


async def tag(request: Request) -> Response:
    """Statuses whose HTML links the tag page (tags have no table yet; the link is what renders a tag)."""
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await optional_caller(request, session, "read:statuses")
    viewer = urls(request).actor(found.actor.username) if found and found.user else None
    name = request.path_params["hashtag"].lstrip("#").lower()
    if not name.replace("_", "").isalnum():
        return paged(request, [])
    query = select(Note).where(
        Note.visibility == "public",
        Note.deleted_at.is_(None),
        Note.content.ilike(f"%>#<span>{name}</span>%") | Note.content.ilike(f"%#{name}%"),
    )
    if params.flag("local"):
        query = query.where(Note.local_actor_id.is_not(None))
    if params.flag("only_media"):
        query = _only_media(query)
    return await _page(request, query, viewer, Page.from_params(params))


routes = [
    Route("/api/v1/timelines/home", home),
    Route("/api/v1/timelines/public", public),
    Route("/api/v1/timelines/tag/{hashtag}", tag),
]
