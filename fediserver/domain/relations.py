"""Relations between accounts: follow, unfollow, follow requests, blocks of actors and of domains.

Every function queues what it sends and leaves the commit to the caller. Behaviour follows Mastodon:
a locked account's (``manuallyApprovesFollowers``) inbound Follow stays ``pending`` until the owner
accepts (``Accept{Follow}``) or rejects (``Reject{Follow}``) it; a block ends follows both ways, telling
the blocked actor with ``Reject``/``Undo`` of those follows, but the ``Block`` itself is not delivered
(ActivityPub §6.9, unlike Mastodon; federation.md §2.3, checklist 36, 37).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.domain import local_follows
from fediserver.domain.services import Services
from fediserver.errors import InvalidInput, NotFound
from fediserver.federation import following, outbound
from fediserver.federation.context import Federation
from fediserver.models import ActorBlock, DomainBlock, Follow, LocalActor, RemoteActor

JSON = dict[str, Any]


async def follow(svc: Services, session: AsyncSession, me: LocalActor, account: str) -> Follow:
    """Follow ``account`` (``@user@host``, ``@user`` or an actor URL). A remote account is sent a Follow,
    pending until it is accepted; a local one is followed directly (``local_follows.follow_local``)."""
    local = await local_follows.local_account(svc, session, account)
    if local is not None:
        return await local_follows.follow_local(svc, session, me, local)
    return await following.follow(svc.fed, session, me, account)


async def unfollow(svc: Services, session: AsyncSession, me: LocalActor, account: str) -> None:
    local = await local_follows.local_account(svc, session, account)
    if local is not None:
        await local_follows.unfollow_local(svc, session, me, local)
        return
    await following.unfollow(svc.fed, session, me, account)


async def follow_requests(svc: Services, session: AsyncSession, me: LocalActor) -> list[Follow]:
    """Follows of ``me`` still waiting for an answer, oldest first."""
    rows = await session.scalars(
        select(Follow)
        .where(Follow.followed_uri == svc.urls.actor(me.username), Follow.state == "pending")
        .order_by(Follow.id)
    )
    return list(rows)


def answer_follow(fed: Federation, me: LocalActor, row: Follow, *, accept: bool) -> JSON:
    """The ``Accept``/``Reject`` of the Follow ``row``, embedding the Follow with its original id."""
    me_uri = fed.urls.actor(me.username)
    original = ap.follow(id=row.activity_uri, actor=row.follower_uri, object=me_uri)
    kind = "accepts" if accept else "rejects"
    answer = ap.accept if accept else ap.reject
    return answer(id=f"{me_uri}#{kind}/follows/{row.id}", actor=me_uri, object=original)


async def _pending_from(svc: Services, session: AsyncSession, me: LocalActor, account: str) -> Follow:
    """The pending Follow from ``account``: a local account's by name or URL; another actor URL is taken
    as it is (a request comes from a known actor, so nothing needs fetching); a handle is resolved over
    WebFinger."""
    local = await local_follows.local_account(svc, session, account)
    if local is not None:
        requester_uri = svc.urls.actor(local.username)
    elif account.startswith(("https://", "http://")):
        requester_uri = account
    else:
        requester_uri = (await following.resolve_account(svc.fed, session, account)).uri
    row = await session.scalar(
        select(Follow).where(
            Follow.follower_uri == requester_uri,
            Follow.followed_uri == svc.urls.actor(me.username),
            Follow.state == "pending",
        )
    )
    if row is None:
        raise NotFound(f"no pending follow request from {account}")
    return row


async def _answer(svc: Services, session: AsyncSession, me: LocalActor, account: str, *, accept: bool) -> Follow:
    row = await _pending_from(svc, session, me, account)
    requester = await session.scalar(select(RemoteActor).where(RemoteActor.uri == row.follower_uri))
    if requester is not None:
        activity = answer_follow(svc.fed, me, row, accept=accept)
        await outbound.enqueue(svc.fed, session, activity, me, [outbound.inbox_for(requester)])
    # A local requester has no inbox to tell: the row is the answer.
    if accept:
        row.state = "accepted"
    else:
        # Mastodon forgets a rejected request, so the requester may ask again later.
        await session.delete(row)
    await session.flush()
    return row


async def accept_follow_request(svc: Services, session: AsyncSession, me: LocalActor, account: str) -> Follow:
    """Accept the pending Follow from ``account``: it becomes a follower and gets ``Accept{Follow}``."""
    return await _answer(svc, session, me, account, accept=True)


async def reject_follow_request(svc: Services, session: AsyncSession, me: LocalActor, account: str) -> Follow:
    """Reject the pending Follow from ``account``: the request is dropped and ``Reject{Follow}`` sent."""
    return await _answer(svc, session, me, account, accept=False)


async def _block_target(svc: Services, session: AsyncSession, account: str) -> tuple[str, str | None]:
    """(actor URI, inbox) of the account to block; a local account has no inbox to deliver to."""
    prefix = svc.urls.actor("")
    if account.startswith(prefix):
        local = await session.scalar(
            select(LocalActor).where(LocalActor.username == account[len(prefix) :], LocalActor.deleted_at.is_(None))
        )
        if local is None or local.actor_type == "Application":
            raise NotFound(f"no local account {account}")
        return account, None
    target = await following.resolve_account(svc.fed, session, account)
    return target.uri, target.inbox


async def _end_follows(
    svc: Services, session: AsyncSession, me: LocalActor, target_uri: str, inbox: str | None
) -> None:
    """Remove the follows between ``me`` and ``target_uri`` both ways; a remote target is told as Mastodon's
    ``BlockService`` tells it: ``Reject(Follow)`` for its follow of us, ``Undo(Follow)`` for ours of it."""
    me_uri = svc.urls.actor(me.username)
    rows = await session.scalars(
        select(Follow).where(
            or_(
                (Follow.follower_uri == me_uri) & (Follow.followed_uri == target_uri),
                (Follow.follower_uri == target_uri) & (Follow.followed_uri == me_uri),
            )
        )
    )
    for row in list(rows):
        if inbox is not None:
            if row.follower_uri == target_uri:
                answer = answer_follow(svc.fed, me, row, accept=False)
            else:
                original = ap.follow(id=row.activity_uri, actor=me_uri, object=target_uri)
                original.pop("@context", None)
                answer = ap.undo(id=f"{row.activity_uri}/undo", actor=me_uri, object=original)
            await outbound.enqueue(svc.fed, session, answer, me, [inbox])
        await session.delete(row)
    await session.flush()


async def block_actor(svc: Services, session: AsyncSession, me: LocalActor, account: str) -> ActorBlock:
    """Block an actor: follows end both ways (the remote is sent ``Reject``/``Undo`` of them), and the
    ``Block`` itself is delivered to nobody (ActivityPub §6.9: "SHOULD NOT deliver Block activities to their
    object"); it is kept to be served to its owner at its id."""
    target_uri, inbox = await _block_target(svc, session, account)
    me_uri = svc.urls.actor(me.username)
    if target_uri == me_uri:
        raise InvalidInput("you cannot block yourself")
    row = await session.scalar(
        select(ActorBlock).where(ActorBlock.actor_uri == me_uri, ActorBlock.target_uri == target_uri)
    )
    if row is not None:
        return row
    await _end_follows(svc, session, me, target_uri, inbox)
    row = ActorBlock(
        activity_uri=svc.urls.activity(me.username, "block", secrets.randbits(48)),
        actor_uri=me_uri,
        target_uri=target_uri,
    )
    session.add(row)
    await session.flush()
    return row


def block_document(row: ActorBlock) -> JSON:
    """The ``Block`` as its owner reads it at its id (never delivered, §6.9)."""
    return {
        "@context": ap.AS_CONTEXT,
        "id": row.activity_uri,
        "type": "Block",
        "actor": row.actor_uri,
        "object": row.target_uri,
        "to": [row.target_uri],
    }


async def unblock_actor(svc: Services, session: AsyncSession, me: LocalActor, account: str) -> None:
    """Lift a block. Nothing is sent: the blocked actor was never told of the Block (§6.9), so an
    ``Undo(Block)`` would only tell it now."""
    target_uri, _ = await _block_target(svc, session, account)
    me_uri = svc.urls.actor(me.username)
    row = await session.scalar(
        select(ActorBlock).where(ActorBlock.actor_uri == me_uri, ActorBlock.target_uri == target_uri)
    )
    if row is None:
        raise NotFound(f"{me.username} does not block {target_uri}")
    await session.delete(row)


def normalise_domain(value: str) -> str:
    domain = value.strip().lower().rstrip(".")
    if not domain or any(c in domain for c in "/@ \t"):
        raise InvalidInput(f"{value!r} is not a domain name")
    return domain


async def block_domain(svc: Services, session: AsyncSession, domain: str, reason: str = "") -> DomainBlock:
    """Refuse everything from ``domain`` and its subdomains, and deliver nothing there."""
    name = normalise_domain(domain)
    row = await session.scalar(select(DomainBlock).where(DomainBlock.domain == name))
    if row is None:
        row = DomainBlock(domain=name, reason=reason)
        session.add(row)
        await session.flush()
    # This process applies it at once; other processes re-read the list within ``BLOCKLIST_TTL``.
    await svc.fed.blocklist.refresh(session, force=True)
    return row


async def unblock_domain(svc: Services, session: AsyncSession, domain: str) -> None:
    await session.execute(delete(DomainBlock).where(DomainBlock.domain == normalise_domain(domain)))
    await svc.fed.blocklist.refresh(session, force=True)


async def blocked_domains(svc: Services, session: AsyncSession) -> list[tuple[str, str]]:
    """(domain, reason) of every block: the config file's first (reason ``(config)``), then stored ones."""
    stored = [(r.domain, r.reason) for r in await session.scalars(select(DomainBlock).order_by(DomainBlock.domain))]
    return [(d, "(config)") for d in svc.settings.federation.blocked_domains] + stored
