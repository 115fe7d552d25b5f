"""Actor documents, profile pages and the collections of local users (checklist 3–11)."""

from __future__ import annotations

import html as htmllib

from sqlalchemy import desc, func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.accounts import INSTANCE_ACTOR_USERNAME
from fediserver.domain.profiles import pinned_notes
from fediserver.errors import Gone, NotFound, Suspended
from fediserver.federation.context import Federation
from fediserver.federation.negotiation import wants_activity_json
from fediserver.federation.render import (
    actor_to_as,
    collection_page,
    create_for_note,
    deleted_actor_to_as,
    html_page,
    note_to_as,
    ordered_collection,
)
from fediserver.models import VISIBILITIES, Follow, LocalActor, Note
from fediserver.notes import attachments_by_note, generations_by_note
from fediserver.routes.responses import as2, html, requester, token_of
from fediserver.web import pages

PAGE_SIZE = 20


async def _local_actor(request: Request, username: str, *, deleted: bool = False) -> LocalActor:
    """The user ``username``; a deleted account is 410 Gone (checklist 2) unless ``deleted`` is asked."""
    async with request.app.state.sessions() as session:
        actor = await session.scalar(
            select(LocalActor).where(LocalActor.username == username, LocalActor.actor_type != "Application")
        )
    if not isinstance(actor, LocalActor):
        raise NotFound(f"no user {username}")
    if actor.deleted_at is not None and not deleted:
        raise Gone(f"{username} was deleted")
    if actor.suspended_at is not None and not deleted:
        # Mastodon answers a suspended account's collections 403; its actor document stays, stripped.
        raise Suspended(f"{username} is suspended")
    return actor


async def user_actor(request: Request) -> Response:
    fed: Federation = request.app.state.federation
    actor = await _local_actor(request, request.path_params["username"], deleted=True)
    if actor.deleted_at is not None:
        return as2(deleted_actor_to_as(actor, fed.urls), status=410)
    doc = actor_to_as(actor, fed.urls)
    if wants_activity_json(request.headers.get("accept")):
        # Actor and key documents stay fetchable unsigned even with authorized fetch (checklist 5).
        return as2(doc)
    if actor.suspended_at is not None:
        raise Suspended(f"{actor.username} is suspended")
    return await pages.actor_page(request, actor)


async def instance_actor(request: Request) -> Response:
    fed: Federation = request.app.state.federation
    async with request.app.state.sessions() as session:
        actor = await session.scalar(select(LocalActor).where(LocalActor.username == INSTANCE_ACTOR_USERNAME))
    if actor is None:
        raise NotFound("no instance actor")
    doc = actor_to_as(actor, fed.urls)
    if wants_activity_json(request.headers.get("accept")):
        return as2(doc)
    return html(html_page(fed.urls.domain, doc["id"], f"<h1>{htmllib.escape(fed.urls.domain)}</h1>"))


def _page_number(request: Request) -> int | None:
    raw = request.query_params.get("page")
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise NotFound("page: a positive integer")
    return int(raw)


async def _follow_collection(request: Request, *, followers: bool) -> Response:
    fed: Federation = request.app.state.federation
    actor = await _local_actor(request, request.path_params["username"])
    actor_uri = fed.urls.actor(actor.username)
    collection_id = fed.urls.followers(actor.username) if followers else fed.urls.following(actor.username)
    mine = Follow.followed_uri if followers else Follow.follower_uri
    theirs = Follow.follower_uri if followers else Follow.followed_uri
    where = (mine == actor_uri, Follow.state == "accepted")
    page = _page_number(request)
    async with request.app.state.sessions() as session:
        await requester(request, required=fed.settings.federation.authorized_fetch)
        total = await session.scalar(select(func.count()).select_from(Follow).where(*where)) or 0
        if page is None:
            return as2(ordered_collection(collection_id, total, f"{collection_id}?page=1"))
        items = list(
            (
                await session.scalars(
                    select(theirs)
                    .where(*where)
                    .order_by(desc(Follow.id))
                    .offset((page - 1) * PAGE_SIZE)
                    .limit(PAGE_SIZE)
                )
            ).all()
        )
    more = page * PAGE_SIZE < total
    next_page = f"{collection_id}?page={page + 1}" if more else None
    return as2(collection_page(f"{collection_id}?page={page}", collection_id, items, next_page))


async def followers(request: Request) -> Response:
    return await _follow_collection(request, followers=True)


async def following(request: Request) -> Response:
    return await _follow_collection(request, followers=False)


async def outbox(request: Request) -> Response:
    """Public and unlisted posts, newest first, as Create activities; every post for its owner's token."""
    fed: Federation = request.app.state.federation
    actor = await _local_actor(request, request.path_params["username"])
    outbox_id = fed.urls.outbox(actor.username)
    page = _page_number(request)
    async with request.app.state.sessions() as session:
        owner = await token_of(request, session, actor.id)
    if not owner:
        await requester(request, required=fed.settings.federation.authorized_fetch)
    async with request.app.state.sessions() as session:
        where = (
            Note.local_actor_id == actor.id,
            Note.deleted_at.is_(None),
            Note.visibility.in_(VISIBILITIES if owner else ("public", "unlisted")),
        )
        total = await session.scalar(select(func.count()).select_from(Note).where(*where)) or 0
        if page is None:
            return as2(ordered_collection(outbox_id, total, f"{outbox_id}?page=1"))
        notes = list(
            (
                await session.scalars(
                    select(Note).where(*where).order_by(desc(Note.published_at), desc(Note.id))
                    .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
                )
            ).all()
        )  # fmt: skip
        media = await attachments_by_note(session, [n.id for n in notes])
        generations = await generations_by_note(session, notes)
    items = [
        create_for_note(note_to_as(n, fed.urls, media.get(n.id, []), generations.get(n.id)), fed.urls) for n in notes
    ]
    next_page = f"{outbox_id}?page={page + 1}" if page * PAGE_SIZE < total else None
    return as2(collection_page(f"{outbox_id}?page={page}", outbox_id, items, next_page))


async def featured(request: Request) -> Response:
    """Pinned posts as whole Notes, as Mastodon serves and reads them."""
    fed: Federation = request.app.state.federation
    actor = await _local_actor(request, request.path_params["username"])
    async with request.app.state.sessions() as session:
        await requester(request, required=fed.settings.federation.authorized_fetch)
        notes = await pinned_notes(session, actor)
        media = await attachments_by_note(session, [n.id for n in notes])
        generations = await generations_by_note(session, notes)
    doc = ordered_collection(fed.urls.featured(actor.username), len(notes), None)
    doc["orderedItems"] = [note_to_as(n, fed.urls, media.get(n.id, []), generations.get(n.id)) for n in notes]
    return as2(doc)


routes = [
    Route("/actor", instance_actor),
    Route("/users/{username}", user_actor),
    Route("/users/{username}/followers", followers),
    Route("/users/{username}/following", following),
    Route("/users/{username}/outbox", outbox),
    Route("/users/{username}/collections/featured", featured),
]
