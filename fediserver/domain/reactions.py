"""Favourites and boosts by local users: stored, sent, and undone (Mastodon's ``FavouriteService``,
``ReblogService`` and their ``Unfavourite``/``Unreblog`` twins)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.domain import streams
from fediserver.domain.notifications import notify
from fediserver.domain.paging import Window
from fediserver.domain.posts import find_note
from fediserver.domain.services import Services
from fediserver.errors import Conflict, InvalidInput, NotFound
from fediserver.federation import outbound
from fediserver.federation.remote import get_actor
from fediserver.models import Announce, DeliveryJob, Like, LocalActor, Note, utcnow

JSON = dict[str, Any]


async def _author_inboxes(svc: Services, session: AsyncSession, note: Note) -> list[str]:
    if note.local_actor_id is not None:
        return []
    return [outbound.inbox_for(await get_actor(svc.fed, session, note.attributed_to))]


async def like(svc: Services, session: AsyncSession, me: LocalActor, note_uri: str) -> Like:
    """Favourite a post the user may see; its author is told (a local author by notification)."""
    note = await find_note(svc, session, note_uri, me)
    # Fetched (if not cached) before anything is written, so that no connection waits on the network.
    inboxes = await _author_inboxes(svc, session, note)
    my_uri = svc.urls.actor(me.username)
    if await session.scalar(select(Like.id).where(Like.actor_uri == my_uri, Like.note_uri == note.uri)) is not None:
        raise Conflict(f"{me.username} already favourited {note.uri}")
    row = Like(activity_uri=svc.urls.activity(me.username, "like", note.id), actor_uri=my_uri, note_uri=note.uri)
    session.add(row)
    await session.flush()
    if note.local_actor_id not in (None, me.id):
        await notify(session, note.local_actor_id, "favourite", my_uri, note.uri)
    activity = ap.like(id=row.activity_uri, actor=my_uri, object=note.uri, to=[note.attributed_to])
    await outbound.enqueue(svc.fed, session, activity, me, inboxes)
    return row


async def unlike(svc: Services, session: AsyncSession, me: LocalActor, note_uri: str) -> list[DeliveryJob]:
    my_uri = svc.urls.actor(me.username)
    row = await session.scalar(select(Like).where(Like.actor_uri == my_uri, Like.note_uri == note_uri))
    note = await session.scalar(select(Note).where(Note.uri == note_uri))
    if row is None or note is None:
        raise NotFound(f"{me.username} has not favourited {note_uri}")
    original = ap.like(id=row.activity_uri, actor=my_uri, object=note.uri, to=[note.attributed_to])
    undo = ap.undo(id=f"{row.activity_uri}/undo", actor=my_uri, object=original, to=[note.attributed_to])
    inboxes = await _author_inboxes(svc, session, note)
    await session.delete(row)
    return await outbound.enqueue(svc.fed, session, undo, me, inboxes)


async def boost(svc: Services, session: AsyncSession, me: LocalActor, note_uri: str) -> Announce:
    """Boost a public or unlisted post: to the user's followers and the post's author (checklist 13)."""
    note = await find_note(svc, session, note_uri, me)
    if note.visibility not in ("public", "unlisted"):
        raise InvalidInput(f"{note.uri} is {note.visibility}: only public and unlisted posts can be boosted")
    my_uri = svc.urls.actor(me.username)
    if await session.scalar(select(Announce.id).where(Announce.actor_uri == my_uri, Announce.note_uri == note.uri)):
        raise Conflict(f"{me.username} already boosted {note.uri}")
    row = Announce(
        activity_uri=svc.urls.activity(me.username, "announce", note.id), actor_uri=my_uri, note_uri=note.uri
    )
    session.add(row)
    await session.flush()
    await streams.boost_event(session, svc.urls, row, note, "reblog")
    if note.local_actor_id not in (None, me.id):
        await notify(session, note.local_actor_id, "reblog", my_uri, note.uri)
    activity = _announce(svc, me, row, note)
    await outbound.to_followers(svc.fed, session, activity, me)
    return row


def _announce(svc: Services, me: LocalActor, row: Announce, note: Note) -> JSON:
    return ap.announce(
        id=row.activity_uri,
        actor=row.actor_uri,
        object=note.uri,
        to=[ap.PUBLIC],
        cc=[svc.urls.followers(me.username), note.attributed_to],
        published=row.created_at or utcnow(),
    )


async def unboost(svc: Services, session: AsyncSession, me: LocalActor, note_uri: str) -> list[DeliveryJob]:
    my_uri = svc.urls.actor(me.username)
    row = await session.scalar(select(Announce).where(Announce.actor_uri == my_uri, Announce.note_uri == note_uri))
    note = await session.scalar(select(Note).where(Note.uri == note_uri))
    if row is None or note is None:
        raise NotFound(f"{me.username} has not boosted {note_uri}")
    original = _announce(svc, me, row, note)
    undo = ap.undo(id=f"{row.activity_uri}/undo", actor=my_uri, object=original, to=[ap.PUBLIC])
    undo["cc"] = original["cc"]
    await streams.boost_event(session, svc.urls, row, note, "unreblog")
    await session.delete(row)
    return await outbound.to_followers(svc.fed, session, undo, me)


async def favourited_by(session: AsyncSession, note: Note, window: Window) -> list[tuple[int, str]]:
    """(favourite id, actor URI) of those who favourited ``note``, newest first (Mastodon's
    ``GET /api/v1/statuses/:id/favourited_by``, paged by favourite id); the caller checks the viewer may see it."""
    query = select(Like.id, Like.actor_uri).where(Like.note_uri == note.uri)
    rows = [(row[0], row[1]) for row in (await session.execute(window.apply(query, Like.id))).all()]
    return window.in_order(rows)


async def reblogged_by(session: AsyncSession, note: Note, window: Window) -> list[tuple[int, str]]:
    """(boost id, actor URI) of those who boosted ``note``, newest first, paged by boost id."""
    query = select(Announce.id, Announce.actor_uri).where(Announce.note_uri == note.uri)
    rows = [(row[0], row[1]) for row in (await session.execute(window.apply(query, Announce.id))).all()]
    return window.in_order(rows)


async def favourites(session: AsyncSession, actor_uri: str, window: Window) -> list[tuple[int, Note]]:
    """(favourite id, post) of the posts ``actor_uri`` favourited and that are not deleted, newest
    favourite first (Mastodon's ``GET /api/v1/favourites``)."""
    query = (
        select(Like.id, Note)
        .join(Note, Note.uri == Like.note_uri)
        .where(Like.actor_uri == actor_uri, Note.deleted_at.is_(None))
    )
    rows = [(row[0], row[1]) for row in (await session.execute(window.apply(query, Like.id))).all()]
    return window.in_order(rows)
