"""What a page of posts shows beyond the rows: media, counts, parents and the reader's own state.

Loaded for a whole page at once (never one statement per post), so a timeline page costs the same
number of statements whether it holds 5 posts or 40.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, ScalarSelect, Select, String, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from fediserver.models import Announce, Bookmark, Like, MediaAttachment, Note, Pin
from fediserver.notes import attachments_by_note


@dataclass(frozen=True)
class Decorations:
    """Per-note extras, keyed by note id (media, bookmarks, pins) or note URI (counts and the reader's state)."""

    media: dict[int, list[MediaAttachment]] = field(default_factory=dict)
    parents: dict[str, Note] = field(default_factory=dict)
    replies: dict[str, int] = field(default_factory=dict)
    favourites: dict[str, int] = field(default_factory=dict)
    boosts: dict[str, int] = field(default_factory=dict)
    favourited: set[str] = field(default_factory=set)
    boosted: set[str] = field(default_factory=set)
    bookmarked: set[int] = field(default_factory=set)
    pinned: set[int] = field(default_factory=set)

    def author_uris(self, notes: Sequence[Note]) -> list[str]:
        """Every account the page names: the authors and the authors of the posts replied to."""
        return [n.attributed_to for n in notes] + [p.attributed_to for p in self.parents.values()]


def _count(column: InstrumentedAttribute[str | None] | InstrumentedAttribute[str]) -> ScalarSelect[int]:
    """How many rows have ``column`` equal to the enclosing row's note URI (an index lookup per note)."""
    return select(func.count()).where(column == Note.uri).scalar_subquery()


@functools.cache
def _statement(with_reader_uri: bool, with_reader_id: bool) -> Select[Any]:
    """The counts-and-state statement, built once per shape with the page's values as parameters
    (``note_ids``, ``reader_uri``, ``reader_id``): building its expression anew each page cost about as
    much as running it."""
    reply = aliased(Note)
    columns: list[Any] = [
        Note.id,
        Note.uri,
        _count(reply.in_reply_to_uri),
        _count(Like.note_uri),
        _count(Announce.note_uri),
    ]
    if with_reader_uri:
        reader_uri = bindparam("reader_uri", type_=String)
        columns += [
            exists().where(Like.actor_uri == reader_uri, Like.note_uri == Note.uri),
            exists().where(Announce.actor_uri == reader_uri, Announce.note_uri == Note.uri),
        ]
    if with_reader_id:
        reader_id = bindparam("reader_id", type_=Integer)
        columns += [
            exists().where(Bookmark.local_actor_id == reader_id, Bookmark.note_id == Note.id),
            exists().where(Pin.local_actor_id == reader_id, Pin.note_id == Note.id),
        ]
    return select(*columns).where(Note.id.in_(bindparam("note_ids", expanding=True)))


async def decorate(
    session: AsyncSession,
    notes: Sequence[Note],
    reader_uri: str | None,
    reader_id: int | None = None,
    *,
    parents: bool = True,
    fresh: bool = False,
) -> Decorations:
    """Decorations of ``notes`` as the actor ``reader_uri`` sees them (bookmarks and pins when the local
    actor's row id ``reader_id`` is given; the posts replied to unless not ``parents``): three statements,
    however many notes. Counts and the reader's state come from one statement over the page's notes,
    each a correlated lookup on its own index.

    ``fresh`` notes were just created by the caller: nothing can have replied to, favourited, boosted,
    bookmarked or pinned them yet, so only their media and parents are read (two statements)."""
    if not notes:
        return Decorations()
    note_ids = [n.id for n in notes]
    parent_uris = sorted({n.in_reply_to_uri for n in notes if n.in_reply_to_uri}) if parents else []
    replied_to = (
        {p.uri: p for p in await session.scalars(select(Note).where(Note.uri.in_(parent_uris)))} if parent_uris else {}
    )
    found = Decorations(media=await attachments_by_note(session, note_ids), parents=replied_to)
    if fresh:
        return found
    values: dict[str, Any] = {"note_ids": note_ids, "reader_uri": reader_uri, "reader_id": reader_id}
    statement = _statement(reader_uri is not None, reader_id is not None)
    for row in await session.execute(statement, values):
        note_id, uri, replies, favourites, boosts, *mine = row
        # Zero counts stay out, as a GROUP BY leaves them out (callers read them with ``.get(uri, 0)``).
        for counts, count in ((found.replies, replies), (found.favourites, favourites), (found.boosts, boosts)):
            if count:
                counts[uri] = count
        flags = dict(zip(("favourited", "boosted", "bookmarked", "pinned"), mine, strict=False))
        if flags.get("favourited"):
            found.favourited.add(uri)
        if flags.get("boosted"):
            found.boosted.add(uri)
        if flags.get("bookmarked"):
            found.bookmarked.add(note_id)
        if flags.get("pinned"):
            found.pinned.add(note_id)
    return found
