"""Attachments across a post's versions: replacing them and changing their alt text and focal point in an
edit (Mastodon's ``media_ids`` and ``media_attributes[]``), and recording them with each kept version
(Mastodon's ``ordered_media_attachment_ids`` and ``media_descriptions`` on ``status_edits``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.errors import InvalidInput
from fediserver.media import check_focus
from fediserver.models import LocalActor, MediaAttachment, Note, NoteEdit

MAX_ATTACHMENTS = 4  # Mastodon's ``MAX_MEDIA`` per status


@dataclass(frozen=True)
class MediaChange:
    """New alt text and/or focal point for one attachment of an edited post (Mastodon's
    ``media_attributes[]``); ``None`` leaves a property as it is."""

    media_id: int
    description: str | None = None
    focus: tuple[float, float] | None = None


def edited_media(note: Note, author: LocalActor, media: Sequence[MediaAttachment] | None) -> list[MediaAttachment]:
    """The post's attachments after an edit: ``media`` (checked) if given, else those it has."""
    if media is None:
        return list(note.attachments)
    if len(media) > MAX_ATTACHMENTS:
        raise InvalidInput(f"media: at most {MAX_ATTACHMENTS} attachments")
    for item in media:
        if item.local_actor_id != author.id or item.note_id not in (None, note.id):
            raise InvalidInput("media: an attachment must be the author's own upload, not on another post")
    return list(dict.fromkeys(media))


def apply_changes(attachments: Sequence[MediaAttachment], changes: Sequence[MediaChange]) -> None:
    by_id = {item.id: item for item in attachments}
    for change in changes:
        item = by_id.get(change.media_id)
        if item is None:
            raise InvalidInput(f"media_attributes: attachment {change.media_id} is not on the post")
        if change.description is not None:
            item.description = change.description
        if change.focus is not None:
            item.focus_x, item.focus_y = check_focus(*change.focus)


def snapshot(attachments: Sequence[MediaAttachment]) -> list[dict[str, Any]]:
    """What a kept version records of its attachments (``NoteEdit.media``)."""
    return [
        {
            "id": item.id,
            "description": item.description,
            "focus": [item.focus_x, item.focus_y] if item.focus_x is not None and item.focus_y is not None else None,
        }
        for item in attachments
    ]


@dataclass(frozen=True)
class VersionMedia:
    """An attachment as one version of a post had it: the row, with that version's alt text and focus."""

    row: MediaAttachment
    description: str
    focus: tuple[float, float] | None


async def versions_media(session: AsyncSession, versions: Sequence[NoteEdit]) -> list[list[VersionMedia] | None]:
    """Each version's attachments, in order (one query); None for a version that did not record them.
    An attachment whose row is gone is left out."""
    wanted = {int(m["id"]) for v in versions for m in v.media or []}
    rows = (
        {r.id: r for r in await session.scalars(select(MediaAttachment).where(MediaAttachment.id.in_(wanted)))}
        if wanted
        else {}
    )
    out: list[list[VersionMedia] | None] = []
    for version in versions:
        if version.media is None:
            out.append(None)
            continue
        out.append(
            [
                VersionMedia(
                    rows[int(m["id"])],
                    str(m.get("description") or ""),
                    (float(m["focus"][0]), float(m["focus"][1])) if m.get("focus") else None,
                )
                for m in version.media
                if int(m["id"]) in rows
            ]
        )
    return out
