"""Account lifecycle: deletion, aliases (``alsoKnownAs``) and migration (``Move``).

Deletion follows Mastodon's ``DeleteAccountService``: ``Delete{object: actor id}`` to every inbox that
knows the account, content removed, the row kept (marked deleted, profile scrubbed) so its key can sign
the Delete and its name is never reused; the actor, its objects and WebFinger then answer 410
(checklist 2). Migration follows ``MoveService``: the target must list us in ``alsoKnownAs``
(checklist 50).
"""

from __future__ import annotations

from sqlalchemy import delete, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.domain import local_follows
from fediserver.domain.profiles import send_update
from fediserver.domain.services import Services
from fediserver.errors import InvalidInput, NotFound
from fediserver.federation import following, outbound
from fediserver.federation.remote import get_actor
from fediserver.models import (
    ActorBlock,
    Announce,
    DeliveryJob,
    Follow,
    GenerationJob,
    Like,
    LocalActor,
    MediaAttachment,
    Note,
    Pin,
    RemoteActor,
    User,
    utcnow,
)

MAX_ALIASES = 10


async def known_inboxes(svc: Services, session: AsyncSession, actor: LocalActor) -> list[str]:
    """Every inbox that knows the account: followers', followed accounts', and any we delivered to."""
    me = svc.urls.actor(actor.username)
    related = select(RemoteActor.inbox, RemoteActor.shared_inbox).join(
        Follow, or_(Follow.follower_uri == RemoteActor.uri, Follow.followed_uri == RemoteActor.uri)
    )
    rows = await session.execute(related.where(or_(Follow.followed_uri == me, Follow.follower_uri == me)))
    inboxes = {shared or inbox for inbox, shared in rows}
    delivered = await session.scalars(select(DeliveryJob.inbox_url).where(DeliveryJob.signer_actor_id == actor.id))
    return sorted(inboxes | set(delivered))


async def delete_account(svc: Services, session: AsyncSession, actor: LocalActor) -> list[DeliveryJob]:
    """Delete the account; returns the queued ``Delete`` deliveries. The caller commits.

    Media files stay on disk: the store is content-addressed, so a file may back another account's post.
    """
    if actor.deleted_at is not None:
        raise NotFound(f"{actor.username} is already deleted")
    me = svc.urls.actor(actor.username)
    inboxes = await known_inboxes(svc, session, actor)
    now = utcnow()
    activity = ap.delete(id=f"{me}#delete", actor=me, object=me, to=[ap.PUBLIC])
    jobs = await outbound.enqueue(svc.fed, session, activity, actor, inboxes)
    await session.execute(
        update(Note)
        .where(Note.local_actor_id == actor.id)
        .values(deleted_at=now, content="", source_text=None, summary=None, raw=None)
    )
    await session.execute(delete(MediaAttachment).where(MediaAttachment.local_actor_id == actor.id))
    await session.execute(delete(Pin).where(Pin.local_actor_id == actor.id))
    await session.execute(delete(Follow).where(or_(Follow.follower_uri == me, Follow.followed_uri == me)))
    await session.execute(delete(Like).where(Like.actor_uri == me))
    await session.execute(delete(Announce).where(Announce.actor_uri == me))
    await session.execute(delete(ActorBlock).where(ActorBlock.actor_uri == me))
    await session.execute(
        update(GenerationJob)
        .where(GenerationJob.local_actor_id == actor.id, GenerationJob.state == "queued")
        .values(state="cancelled", last_error="account deleted")
    )
    # The login goes; the actor row stays, scrubbed, with its keys.
    await session.execute(delete(User).where(User.actor_id == actor.id))
    actor.display_name, actor.summary, actor.fields = "", "", []
    actor.avatar_key = actor.avatar_media_type = actor.header_key = actor.header_media_type = None
    actor.also_known_as = []
    actor.deleted_at = now
    await session.flush()
    return jobs


async def _account(svc: Services, session: AsyncSession, account: str) -> tuple[str, list[str]]:
    """(actor id, its ``alsoKnownAs``) of a local or remote account; a remote one is fetched afresh."""
    local = await local_follows.local_account(svc, session, account)
    if local is not None:
        return svc.urls.actor(local.username), list(local.also_known_as)
    target = await following.resolve_account(svc.fed, session, account)
    try:
        target = await get_actor(svc.fed, session, target.uri, refresh=True)
    except ap.ActivityPubError as exc:
        raise NotFound(f"{account}: {exc}") from None
    return target.uri, ap.get_ids(target.raw.get("alsoKnownAs"))


async def set_aliases(
    svc: Services, session: AsyncSession, actor: LocalActor, accounts: list[str]
) -> list[DeliveryJob]:
    """Set ``alsoKnownAs`` (the accounts this one may move from); followers get ``Update(Person)``."""
    if len(accounts) > MAX_ALIASES:
        raise InvalidInput(f"also known as: at most {MAX_ALIASES} accounts")
    actor.also_known_as = [(await _account(svc, session, a))[0] for a in accounts]
    actor.updated_at = utcnow()
    await session.flush()
    return await send_update(svc.fed, session, actor)


async def move(svc: Services, session: AsyncSession, actor: LocalActor, account: str) -> list[DeliveryJob]:
    """Move to ``account``: it must list this actor in ``alsoKnownAs`` (fetched afresh, checklist 50).

    Sets ``movedTo``, sends ``Update(Person)`` and ``Move{object: us, target: them}`` to followers,
    whose servers then follow the new account. Followers on this instance get no Move (we deliver nothing
    to ourselves): they follow the new account here and stop following the old one, as Mastodon's
    ``MoveWorker`` has them do.
    """
    if actor.moved_to is not None:
        raise InvalidInput(f"{actor.username} has already moved to {actor.moved_to}")
    me = svc.urls.actor(actor.username)
    target_uri, aliases = await _account(svc, session, account)
    if target_uri == me:
        raise InvalidInput("an account cannot move to itself")
    if me not in aliases:
        raise InvalidInput(f"{target_uri} does not list {me} in alsoKnownAs: add it there first")
    actor.moved_to = target_uri
    actor.updated_at = utcnow()
    await session.flush()
    jobs = await send_update(svc.fed, session, actor)
    activity = {
        "@context": ap.AS_CONTEXT,
        "id": f"{me}#moves/{int(utcnow().timestamp())}",
        "type": "Move",
        "actor": me,
        "object": me,
        "target": target_uri,
        "to": [svc.urls.followers(actor.username)],
    }
    jobs += await outbound.to_followers(svc.fed, session, activity, actor)
    await _refollow_local(svc, session, me, target_uri)
    return jobs


async def _refollow_local(svc: Services, session: AsyncSession, old_uri: str, target_uri: str) -> None:
    followers = list(
        await session.scalars(
            select(LocalActor)
            .join(Follow, Follow.follower_uri == literal(svc.urls.actor("")) + LocalActor.username)
            .where(Follow.followed_uri == old_uri, Follow.state == "accepted", LocalActor.deleted_at.is_(None))
        )
    )
    if not followers:
        return
    local_target = await local_follows.local_account(svc, session, target_uri)
    remote_target = None if local_target is not None else await get_actor(svc.fed, session, target_uri)
    for follower in followers:
        follower_uri = svc.urls.actor(follower.username)
        if follower_uri == target_uri:
            continue
        already = await session.scalar(
            select(Follow.id).where(Follow.follower_uri == follower_uri, Follow.followed_uri == target_uri)
        )
        if already is None:
            if local_target is not None:
                await local_follows.follow_local(svc, session, follower, local_target)
            else:
                assert remote_target is not None
                await following.follow_actor(svc.fed, session, follower, remote_target)
        await session.execute(delete(Follow).where(Follow.follower_uri == follower_uri, Follow.followed_uri == old_uri))
