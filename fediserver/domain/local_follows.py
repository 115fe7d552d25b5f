"""Follows between two accounts of this instance: rows and notifications directly, no HTTP to ourselves.

Mastodon's ``FollowService`` for a local target: an unlocked account is followed at once (``follow``
notification), a locked one gets a follow request (``follow_request``) to accept or reject; a block
either way refuses the follow.
"""

from __future__ import annotations

import secrets

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain.notifications import notify, withdraw
from fediserver.domain.services import Services
from fediserver.errors import Conflict, InvalidInput, NotFound
from fediserver.models import ActorBlock, Follow, LocalActor


async def local_account(svc: Services, session: AsyncSession, account: str) -> LocalActor | None:
    """The live local user named by ``account`` (its actor URL, ``@name`` or ``@name@our.domain``);
    None when ``account`` names another server; NotFound for a local name nobody has."""
    prefix = svc.urls.actor("")
    if account.startswith(prefix):
        username = account[len(prefix) :]
    elif account.startswith(("https://", "http://")):
        return None
    else:
        name, _, host = account.lstrip("@").partition("@")
        if host and host.lower() != svc.urls.domain:
            return None
        username = name
    actor = await session.scalar(
        select(LocalActor).where(LocalActor.username == username, LocalActor.deleted_at.is_(None))
    )
    if actor is None:
        raise NotFound(f"no local user {account}")
    return actor


async def follow_local(svc: Services, session: AsyncSession, me: LocalActor, target: LocalActor) -> Follow:
    """``me`` follows ``target``: accepted at once unless ``target`` is locked (then pending); the caller commits."""
    my_uri, their_uri = svc.urls.actor(me.username), svc.urls.actor(target.username)
    if me.id == target.id:
        raise InvalidInput("an account cannot follow itself")
    blocked = await session.scalar(
        select(ActorBlock.id).where(
            or_(
                (ActorBlock.actor_uri == my_uri) & (ActorBlock.target_uri == their_uri),
                (ActorBlock.actor_uri == their_uri) & (ActorBlock.target_uri == my_uri),
            )
        )
    )
    if blocked is not None:
        raise InvalidInput(f"{me.username} cannot follow {target.username}: a block is in the way")
    row = await session.scalar(select(Follow).where(Follow.follower_uri == my_uri, Follow.followed_uri == their_uri))
    if row is not None and row.state == "accepted":
        raise Conflict(f"{me.username} already follows {their_uri}")
    state = "pending" if target.manually_approves_followers else "accepted"
    if row is None:
        row = Follow(
            follower_uri=my_uri,
            followed_uri=their_uri,
            activity_uri=svc.urls.follow_activity(secrets.token_hex(12)),
            state=state,
        )
        session.add(row)
    else:
        row.state = state
    await session.flush()
    await notify(session, target.id, "follow_request" if state == "pending" else "follow", my_uri)
    return row


async def unfollow_local(svc: Services, session: AsyncSession, me: LocalActor, target: LocalActor) -> None:
    """End (or withdraw the request of) a follow of a local account, and its notification."""
    my_uri, their_uri = svc.urls.actor(me.username), svc.urls.actor(target.username)
    row = await session.scalar(select(Follow).where(Follow.follower_uri == my_uri, Follow.followed_uri == their_uri))
    if row is None:
        raise NotFound(f"{me.username} does not follow {their_uri}")
    await session.delete(row)
    await withdraw(session, ("follow", "follow_request"), my_uri, recipient_ids=[target.id])
    await session.flush()
