"""Hashtags: the ``tags`` index of local posts and of public remote posts, and the tag timeline."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, desc, select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.models import Note, NoteTag, Tag
from fediserver.text.entities import normalize_tag

MAX_TAG_LENGTH = 255


def hashtag_names(tags: Any) -> list[str]:
    """Names of the ``Hashtag`` objects in an ActivityStreams ``tag`` value, without the ``#``."""
    names = []
    for item in ap.as_list(tags):
        if isinstance(item, dict) and ap.has_type(item, "Hashtag") and isinstance(item.get("name"), str):
            name = item["name"].strip().removeprefix("#")
            if name and len(name) <= MAX_TAG_LENGTH and not any(c.isspace() for c in name):
                names.append(name)
    return names


async def index_tags(session: AsyncSession, note: Note, names: Iterable[str], *, replace: bool = True) -> list[Tag]:
    """Make ``names`` the note's hashtags (replacing any earlier set, for edits; ``replace=False`` for a note
    just inserted, which has none); the caller commits."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(normalize_tag(name), name)
    if replace:
        await session.execute(delete(NoteTag).where(NoteTag.note_id == note.id))
    if not wanted:
        return []
    existing = {t.name: t for t in await session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
    tags = []
    for key, display in wanted.items():
        tag = existing.get(key)
        if tag is None:
            tag = Tag(name=key, display_name=display)
            session.add(tag)
        tags.append(tag)
    await session.flush()
    session.add_all(NoteTag(note_id=note.id, tag_id=t.id) for t in tags)
    await session.flush()
    return tags


async def tagged_notes(session: AsyncSession, name: str, limit: int = 20) -> list[Note]:
    """Public, undeleted posts with the hashtag ``name``, newest first (a tag timeline)."""
    rows = await session.scalars(
        select(Note)
        .join(NoteTag, NoteTag.note_id == Note.id)
        .join(Tag, Tag.id == NoteTag.tag_id)
        .where(Tag.name == normalize_tag(name), Note.visibility == "public", Note.deleted_at.is_(None))
        .order_by(desc(Note.published_at), desc(Note.id))
        .limit(limit)
    )
    return list(rows)
