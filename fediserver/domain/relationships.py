"""What is between two accounts, and the lists those relations make (followers, following, requests, blocks).

The read side of ``relations`` and ``mutes``: Mastodon's ``Relationship`` facts and the paged lists of
``GET /api/v1/accounts/:id/followers`` and friends. A list is hidden from a viewer its owner blocks
(Mastodon's ``hide_results?``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain import mutes
from fediserver.domain.paging import Window
from fediserver.domain.services import Services
from fediserver.models import ActorBlock, Follow, LocalActor, Mute, utcnow


@dataclass(frozen=True)
class Relationship:
    """From ``me`` to the target: Mastodon's Relationship entity without its presentation."""

    following: bool = False
    requested: bool = False
    followed_by: bool = False
    requested_by: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False
    muting_notifications: bool = False
    muting_expires_at: datetime | None = None


async def _block(session: AsyncSession, actor_uri: str, target_uri: str) -> bool:
    found = await session.scalar(
        select(ActorBlock.id).where(ActorBlock.actor_uri == actor_uri, ActorBlock.target_uri == target_uri)
    )
    return found is not None


async def relationship(svc: Services, session: AsyncSession, me: LocalActor, target_uri: str) -> Relationship:
    me_uri = svc.urls.actor(me.username)
    mine = await session.scalar(
        select(Follow.state).where(Follow.follower_uri == me_uri, Follow.followed_uri == target_uri)
    )
    theirs = await session.scalar(
        select(Follow.state).where(Follow.follower_uri == target_uri, Follow.followed_uri == me_uri)
    )
    mute = (await mutes.muted(session, me)).get(target_uri)
    return Relationship(
        following=mine == "accepted",
        requested=mine == "pending",
        followed_by=theirs == "accepted",
        requested_by=theirs == "pending",
        blocking=await _block(session, me_uri, target_uri),
        blocked_by=await _block(session, target_uri, me_uri),
        muting=mute is not None,
        muting_notifications=mute is not None and mute.notifications,
        muting_expires_at=mute.expires_at if mute is not None else None,
    )


async def hides_network(session: AsyncSession, owner_uri: str, viewer_uri: str | None) -> bool:
    """Whether ``owner_uri``'s followers and following are hidden from ``viewer_uri`` (it is blocked)."""
    if viewer_uri is None or viewer_uri == owner_uri:
        return False
    return await _block(session, owner_uri, viewer_uri)


async def followers(session: AsyncSession, owner_uri: str, window: Window) -> list[Follow]:
    """Accepted follows of ``owner_uri``, newest first."""
    query = select(Follow).where(Follow.followed_uri == owner_uri, Follow.state == "accepted")
    return window.in_order(list(await session.scalars(window.apply(query, Follow.id))))


async def following(session: AsyncSession, owner_uri: str, window: Window) -> list[Follow]:
    """Accepted follows by ``owner_uri``, newest first."""
    query = select(Follow).where(Follow.follower_uri == owner_uri, Follow.state == "accepted")
    return window.in_order(list(await session.scalars(window.apply(query, Follow.id))))


async def follow_requests(svc: Services, session: AsyncSession, me: LocalActor, window: Window) -> list[Follow]:
    """Follows of ``me`` waiting for an answer, newest first (``relations.follow_requests`` is all, oldest first)."""
    query = select(Follow).where(Follow.followed_uri == svc.urls.actor(me.username), Follow.state == "pending")
    return window.in_order(list(await session.scalars(window.apply(query, Follow.id))))


async def blocks(svc: Services, session: AsyncSession, me: LocalActor, window: Window) -> list[ActorBlock]:
    """The accounts ``me`` blocks, most recent block first."""
    query = select(ActorBlock).where(ActorBlock.actor_uri == svc.urls.actor(me.username))
    return window.in_order(list(await session.scalars(window.apply(query, ActorBlock.id))))


async def mutes_in_force(session: AsyncSession, me: LocalActor, window: Window) -> list[Mute]:
    """The accounts ``me`` mutes (expired mutes left out), most recent mute first."""
    now = utcnow()
    query = select(Mute).where(Mute.local_actor_id == me.id, (Mute.expires_at.is_(None)) | (Mute.expires_at > now))
    return window.in_order(list(await session.scalars(window.apply(query, Mute.id))))
