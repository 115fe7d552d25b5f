"""Mutes: hide an account from the user's timelines (and by default its notifications) without telling it.

Mastodon's ``MuteService``: a mute is private and never federated, unlike a block.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain.services import Services
from fediserver.errors import InvalidInput
from fediserver.models import LocalActor, Mute, utcnow


async def mute(
    svc: Services,
    session: AsyncSession,
    me: LocalActor,
    target_uri: str,
    *,
    notifications: bool = True,
    duration_s: int = 0,
) -> Mute:
    """Mute ``target_uri``; muting again updates the options (``duration_s`` 0: until unmuted)."""
    if target_uri == svc.urls.actor(me.username):
        raise InvalidInput("you cannot mute yourself")
    if duration_s < 0:
        raise InvalidInput("duration must be 0 (indefinite) or a number of seconds")
    expires = utcnow() + timedelta(seconds=duration_s) if duration_s else None
    row = await session.scalar(select(Mute).where(Mute.local_actor_id == me.id, Mute.target_uri == target_uri))
    if row is None:
        row = Mute(local_actor_id=me.id, target_uri=target_uri)
        session.add(row)
    row.notifications = notifications
    row.expires_at = expires
    await session.flush()
    return row


async def unmute(session: AsyncSession, me: LocalActor, target_uri: str) -> None:
    """Unmute; unmuting an account that is not muted is not an error (as Mastodon)."""
    row = await session.scalar(select(Mute).where(Mute.local_actor_id == me.id, Mute.target_uri == target_uri))
    if row is not None:
        await session.delete(row)
        await session.flush()


async def muted(session: AsyncSession, me: LocalActor, *, now: datetime | None = None) -> dict[str, Mute]:
    """The user's mutes still in force, by target URI."""
    moment = now or utcnow()
    rows = await session.scalars(
        select(Mute).where(Mute.local_actor_id == me.id, or_(Mute.expires_at.is_(None), Mute.expires_at > moment))
    )
    return {row.target_uri: row for row in rows}
