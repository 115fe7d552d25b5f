"""What a page of posts shows beyond the rows: media, counts, parents and the reader's own state.

Loaded for a whole page at once, one statement per kind of data (never one per post), so a timeline
page costs the same number of statements whether it holds 5 posts or 40.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from fediserver.models import Announce, Bookmark, Like, MediaAttachment, Note
from fediserver.notes import attachments_by_note


@dataclass(frozen=True)
class Decorations:
    """Per-note extras, keyed by note id (media) or note URI (counts and the reader's state)."""

    media: dict[int, list[MediaAttachment]] = field(default_factory=dict)
    parents: dict[str, Note] = field(default_factory=dict)
    replies: dict[str, int] = field(default_factory=dict)
    favourites: dict[str, int] = field(default_factory=dict)
    boosts: dict[str, int] = field(default_factory=dict)
    favourited: set[str] = field(default_factory=set)
    boosted: set[str] = field(default_factory=set)
    bookmarked: set[int] = field(default_factory=set)

    def author_uris(self, notes: Sequence[Note]) -> list[str]:
        """Every account the page names: the authors and the authors of the posts replied to."""
        return [n.attributed_to for n in notes] + [p.attributed_to for p in self.parents.values()]


async def _grouped(session: AsyncSession, column: InstrumentedAttribute[str | None], uris: list[str]) -> dict[str, int]:
    rows = await session.execute(select(column, func.count()).where(column.in_(uris)).group_by(column))
    return {uri: count for uri, count in rows if uri is not None}


async def _mine(session: AsyncSession, model: type[Like] | type[Announce], me: str, uris: list[str]) -> set[str]:
    return set(await session.scalars(select(model.note_uri).where(model.actor_uri == me, model.note_uri.in_(uris))))


async def decorate(
    session: AsyncSession,
    notes: Sequence[Note],
    reader_uri: str | None,
    reader_id: int | None = None,
    *,
    fresh: bool = False,
) -> Decorations:
    """Decorations of ``notes`` as the actor ``reader_uri`` sees them (bookmarks when the local actor's
    row id ``reader_id`` is given): at most eight statements, however many notes.

    ``fresh`` notes were just created by the caller: nothing can have replied to, favourited, boosted or
    bookmarked them yet, so only their media and parents are read (two statements)."""
    if not notes:
        return Decorations()
    uris = [n.uri for n in notes]
    parent_uris = sorted({n.in_reply_to_uri for n in notes if n.in_reply_to_uri})
    parents = (
        {p.uri: p for p in await session.scalars(select(Note).where(Note.uri.in_(parent_uris)))} if parent_uris else {}
    )
    media = await attachments_by_note(session, [n.id for n in notes])
    if fresh:
        return Decorations(media=media, parents=parents)
    found = Decorations(
        media=media,
        parents=parents,
        replies=await _grouped(session, Note.in_reply_to_uri, uris),
        favourites=await _grouped(session, Like.note_uri, uris),
        boosts=await _grouped(session, Announce.note_uri, uris),
    )
    if reader_uri is None:
        return found
    found.favourited.update(await _mine(session, Like, reader_uri, uris))
    found.boosted.update(await _mine(session, Announce, reader_uri, uris))
    if reader_id is None:
        return found
    found.bookmarked.update(
        await session.scalars(
            select(Bookmark.note_id).where(
                Bookmark.local_actor_id == reader_id, Bookmark.note_id.in_([n.id for n in notes])
            )
        )
    )
    return found
