"""Queries about notes shared by routes, the timeline and federation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.models import Follow, GenerationJob, MediaAttachment, Note


async def attachments_by_note(session: AsyncSession, note_ids: list[int]) -> dict[int, list[MediaAttachment]]:
    if not note_ids:
        return {}
    rows = await session.scalars(
        select(MediaAttachment).where(MediaAttachment.note_id.in_(note_ids)).order_by(MediaAttachment.position)
    )
    out: dict[int, list[MediaAttachment]] = {}
    for row in rows:
        assert row.note_id is not None
        out.setdefault(row.note_id, []).append(row)
    return out


async def is_follower(session: AsyncSession, follower_uri: str, followed_uri: str) -> bool:
    found = await session.scalar(
        select(Follow.id).where(
            Follow.follower_uri == follower_uri,
            Follow.followed_uri == followed_uri,
            Follow.state == "accepted",
        )
    )
    return found is not None


async def may_see(session: AsyncSession, note: Note, viewer_uri: str | None) -> bool:
    """Mastodon's visibility rules: followers-only to followers and addressees, direct to addressees."""
    if note.visibility in ("public", "unlisted"):
        return True
    if viewer_uri is None:
        return False
    if viewer_uri == note.attributed_to or viewer_uri in note.to or viewer_uri in note.cc:
        return True
    return note.visibility == "followers" and await is_follower(session, viewer_uri, note.attributed_to)


async def generations_by_note(session: AsyncSession, notes: list[Note]) -> dict[int, GenerationJob]:
    ids = {n.generation_job_id for n in notes if n.generation_job_id is not None}
    if not ids:
        return {}
    jobs = {j.id: j for j in await session.scalars(select(GenerationJob).where(GenerationJob.id.in_(ids)))}
    return {n.id: jobs[n.generation_job_id] for n in notes if n.generation_job_id in jobs}
