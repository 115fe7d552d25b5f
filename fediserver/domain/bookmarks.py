"""Bookmarks: a user's private list of posts (Mastodon's ``BookmarksController``); never federated."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain.paging import Window
from fediserver.domain.posts import find_note
from fediserver.domain.services import Services
from fediserver.models import Bookmark, LocalActor, Note


async def bookmark(svc: Services, session: AsyncSession, me: LocalActor, note_uri: str) -> Note:
    """Bookmark a post the user may see; bookmarking twice is not an error (Mastodon answers 200 both times)."""
    note = await find_note(svc, session, note_uri, me)
    exists = await session.scalar(
        select(Bookmark.id).where(Bookmark.local_actor_id == me.id, Bookmark.note_id == note.id)
    )
    if exists is None:
        session.add(Bookmark(local_actor_id=me.id, note_id=note.id))
        await session.flush()
    return note


async def unbookmark(svc: Services, session: AsyncSession, me: LocalActor, note_uri: str) -> Note:
    """Remove a bookmark; removing one that is not there is not an error (as Mastodon)."""
    note = await find_note(svc, session, note_uri, me)
    row = await session.scalar(select(Bookmark).where(Bookmark.local_actor_id == me.id, Bookmark.note_id == note.id))
    if row is not None:
        await session.delete(row)
        await session.flush()
    return note


async def is_bookmarked(session: AsyncSession, me: LocalActor, note_ids: list[int]) -> set[int]:
    """Which of ``note_ids`` the user has bookmarked (one query, for a whole page)."""
    if not note_ids:
        return set()
    rows = await session.scalars(
        select(Bookmark.note_id).where(Bookmark.local_actor_id == me.id, Bookmark.note_id.in_(note_ids))
    )
    return set(rows)


async def bookmarked(
    session: AsyncSession,
    me: LocalActor,
    *,
    limit: int = 20,
    before_id: int | None = None,
    window: Window | None = None,
) -> list[tuple[Bookmark, Note]]:
    """The user's bookmarks of posts not deleted, newest first, paged by bookmark id (``before_id``
    exclusive, or a whole ``Window`` for Mastodon's ``max_id``/``since_id``/``min_id``)."""
    window = window or Window(limit=limit, max_id=before_id)
    query = (
        select(Bookmark, Note)
        .join(Note, Note.id == Bookmark.note_id)
        .where(Bookmark.local_actor_id == me.id, Note.deleted_at.is_(None))
    )
    rows = [(row[0], row[1]) for row in (await session.execute(window.apply(query, Bookmark.id))).all()]
    return window.in_order(rows)
