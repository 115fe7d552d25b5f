"""Invite links: a member (or only admins, per ``instance.invites``) makes one with a number of uses and
an expiry; signing up through ``/invite/CODE`` needs no approval and works even in ``invite`` mode,
where sign-up is otherwise closed (Mastodon's ``Invite`` and registrations mode ``approved`` with
invites).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver import accounts
from fediserver.errors import Gone, InvalidInput, NotFound
from fediserver.models import Invite, User, utcnow

MAX_USES = 1000
MAX_DAYS = 365


def _check(max_uses: int | None, days: float | None) -> None:
    if max_uses is not None and not 1 <= max_uses <= MAX_USES:
        raise InvalidInput(f"max uses: from 1 to {MAX_USES}, or no limit")
    if days is not None and not 0 < days <= MAX_DAYS:
        raise InvalidInput(f"expires after: more than 0 and at most {MAX_DAYS} days, or never")


def may_invite(user: User, who_may: str) -> bool:
    """``who_may`` is ``instance.invites``: ``admins`` (moderators and admins) or ``members``."""
    return who_may == "members" or user.is_moderator


async def create_invite(session: AsyncSession, creator: User, *, max_uses: int | None, days: float | None) -> Invite:
    """A new invite; the caller commits."""
    _check(max_uses, days)
    invite = Invite(
        code=secrets.token_urlsafe(9),
        created_by_id=creator.id,
        max_uses=max_uses,
        uses=0,
        expires_at=utcnow() + timedelta(days=days) if days is not None else None,
    )
    session.add(invite)
    await session.flush()
    return invite


async def list_invites(session: AsyncSession, creator: User | None = None) -> list[Invite]:
    """Every invite not revoked, newest first (only ``creator``'s when given)."""
    query = select(Invite).where(Invite.revoked_at.is_(None))
    if creator is not None:
        query = query.where(Invite.created_by_id == creator.id)
    return list(await session.scalars(query.order_by(Invite.id.desc())))


async def revoke_invite(session: AsyncSession, invite_id: int, by: User) -> None:
    """Moderators revoke any invite, members their own."""
    invite = await session.get(Invite, invite_id)
    if invite is None or invite.revoked_at is not None or not (by.is_moderator or invite.created_by_id == by.id):
        raise NotFound("no such invite")
    invite.revoked_at = utcnow()


def usable(invite: Invite) -> bool:
    return (
        invite.revoked_at is None
        and (invite.expires_at is None or invite.expires_at > utcnow())
        and (invite.max_uses is None or invite.uses < invite.max_uses)
    )


async def valid_invite(session: AsyncSession, code: str) -> Invite:
    """The invite of ``code``, 410 when it was revoked, expired or used up, 404 when there is none."""
    invite = await session.scalar(select(Invite).where(Invite.code == code[:64]))
    if invite is None:
        raise NotFound("no such invite")
    if not usable(invite):
        raise Gone("this invite has expired or was used up")
    return invite


async def sign_up_with_invite(session: AsyncSession, code: str, username: str, password: str) -> User:
    """A new, approved user; the invite's use is counted in the same transaction. The caller commits."""
    invite = await valid_invite(session, code)
    user = await accounts.create_user(session, username, password)
    user.is_approved = True
    # A conditional update, so two sign-ups at once cannot both take an invite's last use.
    counted = await session.execute(
        update(Invite)
        .where(Invite.id == invite.id, (Invite.max_uses.is_(None)) | (Invite.uses < Invite.max_uses))
        .values(uses=Invite.uses + 1)
        .execution_options(synchronize_session="fetch")
    )
    if counted.rowcount != 1:  # type: ignore[attr-defined]
        raise Gone("this invite has expired or was used up")
    return user
