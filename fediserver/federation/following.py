"""Following from our side: resolve the account, send Follow / Undo(Follow)."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.errors import Conflict, InvalidInput, NotFound
from fediserver.federation import outbound
from fediserver.federation.connections import release
from fediserver.federation.context import Federation
from fediserver.federation.remote import get_actor
from fediserver.models import Follow, LocalActor, RemoteActor


async def resolve_account(fed: Federation, session: AsyncSession, account: str) -> RemoteActor:
    """An ``@user@host`` handle (WebFinger over https) or an actor URL, fetched and cached; no database
    connection is held during WebFinger or the fetch unless the transaction has written (issue 8)."""
    if account.startswith(("https://", "http://")):
        actor_id = account
    else:
        await release(session)
        try:
            result = await ap.lookup(fed.http, account.lstrip("@"), guard=fed.guard, scheme=fed.webfinger_scheme)
        except ap.ActivityPubError as exc:
            raise NotFound(f"{account}: {exc}") from None
        actor_id = result.actor_id
    if actor_id.startswith(fed.urls.base + "/"):
        raise InvalidInput(f"{account} is on this instance")
    try:
        return await get_actor(fed, session, actor_id)
    except ap.ActivityPubError as exc:
        raise NotFound(f"{account}: {exc}") from None


async def follow(fed: Federation, session: AsyncSession, me: LocalActor, account: str) -> Follow:
    """Store a pending Follow and queue it for delivery; the caller commits."""
    return await follow_actor(fed, session, me, await resolve_account(fed, session, account))


async def follow_actor(fed: Federation, session: AsyncSession, me: LocalActor, target: RemoteActor) -> Follow:
    """``follow`` of an already resolved actor (also used to follow an account's new home after a Move)."""
    my_uri = fed.urls.actor(me.username)
    row = await session.scalar(select(Follow).where(Follow.follower_uri == my_uri, Follow.followed_uri == target.uri))
    if row is not None and row.state == "accepted":
        raise Conflict(f"{me.username} already follows {target.uri}")
    follow_id = fed.urls.follow_activity(secrets.token_hex(12))
    if row is None:
        row = Follow(follower_uri=my_uri, followed_uri=target.uri, activity_uri=follow_id, state="pending")
        session.add(row)
    else:
        row.activity_uri, row.state = follow_id, "pending"
    activity = ap.follow(id=follow_id, actor=my_uri, object=target.uri)
    await outbound.enqueue(fed, session, activity, me, [target.inbox])
    return row


async def unfollow(fed: Federation, session: AsyncSession, me: LocalActor, account: str) -> None:
    await unfollow_actor(fed, session, me, await resolve_account(fed, session, account))


async def unfollow_actor(fed: Federation, session: AsyncSession, me: LocalActor, target: RemoteActor) -> None:
    my_uri = fed.urls.actor(me.username)
    row = await session.scalar(select(Follow).where(Follow.follower_uri == my_uri, Follow.followed_uri == target.uri))
    if row is None:
        raise NotFound(f"{me.username} does not follow {target.uri}")
    original = ap.follow(id=row.activity_uri, actor=my_uri, object=target.uri)
    original.pop("@context", None)
    undo = ap.undo(id=f"{row.activity_uri}/undo", actor=my_uri, object=original)
    await outbound.enqueue(fed, session, undo, me, [target.inbox])
    await session.delete(row)
