"""Mentions in post text resolved to accounts: local users, and remote ones through cached WebFinger.

Mastodon resolves ``@user@host`` with WebFinger and keeps the answer (``ResolveAccountService``); so do
we, in ``account_handles``, re-asking once a handle is older than ``HANDLE_TTL``. A handle that cannot
be resolved stays plain text in the post, as in Mastodon.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.errors import AppError
from fediserver.federation.connections import caching
from fediserver.federation.context import Federation
from fediserver.federation.following import resolve_account
from fediserver.models import AccountHandle, LocalActor, RemoteActor
from fediserver.text.entities import Entity
from fediserver.text.formatter import Account, mention_key

HANDLE_TTL = timedelta(days=1)
Key = tuple[str, str | None]


def local_account(fed: Federation, actor: LocalActor) -> Account:
    return Account(actor.username, None, fed.urls.actor(actor.username), fed.urls.profile(actor.username))


def remote_account(actor: RemoteActor, username: str, domain: str) -> Account:
    return Account(actor.preferred_username or username, domain, actor.uri, actor.url or actor.uri)


async def _local(fed: Federation, session: AsyncSession, names: set[str]) -> dict[Key, Account]:
    if not names:
        return {}
    rows = await session.scalars(
        select(LocalActor).where(func.lower(LocalActor.username).in_(names), LocalActor.actor_type != "Application")
    )
    return {(row.username.lower(), None): local_account(fed, row) for row in rows}


async def _cached(session: AsyncSession, accts: set[str], fresh_after: datetime) -> dict[str, RemoteActor]:
    """Fresh ``account_handles`` answers whose actor is still cached and not deleted, by acct."""
    rows = (
        await session.execute(
            select(AccountHandle.acct, RemoteActor)
            .join(RemoteActor, RemoteActor.uri == AccountHandle.actor_uri)
            .where(
                AccountHandle.acct.in_(accts),
                AccountHandle.resolved_at > fresh_after,
                RemoteActor.deleted_at.is_(None),
            )
        )
    ).all()
    return {acct: actor for acct, actor in rows}


async def resolve_mentions(fed: Federation, session: AsyncSession, entities: Iterable[Entity]) -> dict[Key, Account]:
    """The accounts the text's mentions name, by :func:`fediserver.text.formatter.mention_key`."""
    keys = {mention_key(e.value, fed.urls.domain) for e in entities if e.kind == "mention"}
    found = await _local(fed, session, {user for user, domain in keys if domain is None})
    remote = {f"{user}@{domain}": (user, domain) for user, domain in keys if domain is not None}
    if not remote:
        return found
    cached = await _cached(session, set(remote), fed.clock() - HANDLE_TTL)
    for acct, (user, domain) in remote.items():
        actor = cached.get(acct)
        if actor is None:
            actor = await _webfinger(fed, session, acct)
        if actor is not None:
            found[(user, domain)] = remote_account(actor, user, domain)
    return found


async def _webfinger(fed: Federation, session: AsyncSession, acct: str) -> RemoteActor | None:
    try:
        actor = await resolve_account(fed, session, acct)
    except AppError:
        return None
    # A cache: committed at once if the post has not been written yet, so the next mention's WebFinger
    # holds no connection either.
    async with caching(session):
        row = await session.scalar(select(AccountHandle).where(AccountHandle.acct == acct))
        if row is None:
            session.add(AccountHandle(acct=acct, actor_uri=actor.uri, resolved_at=fed.clock()))
        else:
            row.actor_uri, row.resolved_at = actor.uri, fed.clock()
    return actor
