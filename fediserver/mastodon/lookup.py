"""Finding what an API id names, and what the caller may see (404 for what they may not: Mastodon's rule)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.errors import NotFound
from fediserver.mastodon import ids
from fediserver.models import LocalActor, MediaAttachment, Note, RemoteActor
from fediserver.notes import may_see


async def status(session: AsyncSession, status_id: str, viewer_uri: str | None) -> Note:
    sid = ids.Snowflake.parse(status_id)
    note = None
    if sid is not None:
        note = await session.scalar(
            select(Note).where(ids.matches(Note.published_at, Note.id, sid), Note.deleted_at.is_(None))
        )
    if note is None or not await may_see(session, note, viewer_uri):
        raise NotFound("Record not found")
    return note


async def media(session: AsyncSession, media_id: str, owner: LocalActor) -> MediaAttachment:
    sid = ids.Snowflake.parse(media_id)
    row = None
    if sid is not None:
        row = await session.scalar(
            select(MediaAttachment).where(ids.matches(MediaAttachment.created_at, MediaAttachment.id, sid))
        )
    if row is None or row.local_actor_id != owner.id:
        raise NotFound("Record not found")
    return row


async def account(session: AsyncSession, account_id: str) -> LocalActor | RemoteActor:
    parsed = ids.parse_account_id(account_id)
    found: LocalActor | RemoteActor | None = None
    if parsed is not None and parsed[0] == "local":
        found = await session.get(LocalActor, parsed[1])
        if found is not None and found.actor_type == "Application":
            found = None
    elif parsed is not None:
        found = await session.get(RemoteActor, parsed[1])
    if found is None:
        raise NotFound("Record not found")
    return found
