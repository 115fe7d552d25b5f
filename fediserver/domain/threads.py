"""Threads: a post's ancestors and descendants as a given viewer may see them (Mastodon's
``GET /api/v1/statuses/:id/context``), and the public replies behind a note's ``replies`` collection."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.models import Note
from fediserver.notes import may_see

MAX_ANCESTORS = 40
MAX_DESCENDANTS = 60
MAX_DEPTH = 20


@dataclass(frozen=True)
class ThreadContext:
    ancestors: list[Note]  # oldest first, ending with the parent
    descendants: list[Note]  # depth first, in thread order


async def context(session: AsyncSession, note: Note, viewer_uri: str | None) -> ThreadContext:
    """What ``viewer_uri`` (None: an anonymous viewer) may see around ``note``.

    A post the viewer may not see, or a deleted one, is left out; its visible replies still show,
    as in Mastodon.
    """
    ancestors: list[Note] = []
    seen = {note.uri}
    parent_uri = note.in_reply_to_uri
    while parent_uri is not None and parent_uri not in seen and len(ancestors) < MAX_ANCESTORS:
        seen.add(parent_uri)
        parent = await session.scalar(select(Note).where(Note.uri == parent_uri))
        if parent is None:
            break
        if parent.deleted_at is None and await may_see(session, parent, viewer_uri):
            ancestors.append(parent)
        parent_uri = parent.in_reply_to_uri
    ancestors.reverse()

    children: dict[str, list[Note]] = {}
    frontier = [note.uri]
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        rows = list(
            await session.scalars(
                select(Note).where(Note.in_reply_to_uri.in_(frontier)).order_by(Note.published_at, Note.id)
            )
        )
        frontier = [r.uri for r in rows if r.uri not in seen]
        for row in rows:
            if row.uri not in seen and row.in_reply_to_uri is not None:
                seen.add(row.uri)
                children.setdefault(row.in_reply_to_uri, []).append(row)
    descendants: list[Note] = []
    stack = list(reversed(children.get(note.uri, [])))
    while stack and len(descendants) < MAX_DESCENDANTS:
        current = stack.pop()
        if current.deleted_at is None and await may_see(session, current, viewer_uri):
            descendants.append(current)
        stack.extend(reversed(children.get(current.uri, [])))
    return ThreadContext(ancestors, descendants)


async def public_replies(session: AsyncSession, note_uri: str, limit: int = 100) -> list[str]:
    """Ids of the public and unlisted replies to a post, oldest first (its ``replies`` collection)."""
    rows = await session.scalars(
        select(Note.uri)
        .where(
            Note.in_reply_to_uri == note_uri,
            Note.visibility.in_(("public", "unlisted")),
            Note.deleted_at.is_(None),
        )
        .order_by(Note.published_at, Note.id)
        .limit(limit)
    )
    return list(rows)
