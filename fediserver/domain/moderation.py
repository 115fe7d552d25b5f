"""Moderation use-cases shared by the web UI and the CLI: roles, suspension, silencing, member reports.

Suspension follows Mastodon's ``SuspendAccountService`` for a local account: logins end (web sessions
and OAuth tokens revoked), the actor document is served stripped with ``suspended: true`` and an
``Update`` of it goes to followers, its posts answer 403; ``UnsuspendAccountService`` sends the full
actor again. Silencing (Mastodon's "limit") keeps the account working but off the local and federated
feeds. A member's report is kept for moderators and, when asked, forwarded to the reported account's
server as Mastodon's ``ReportService`` does: a ``Flag`` signed by the instance actor whose ``object``
is the account and the reported posts, and whose ``content`` is the comment.
"""

from __future__ import annotations

import secrets

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver import accounts
from fediserver.domain.profiles import send_update
from fediserver.domain.services import Services
from fediserver.errors import Conflict, InvalidInput, NotFound
from fediserver.federation import outbound
from fediserver.models import ROLES, DeliveryJob, LocalActor, Note, OAuthToken, RemoteActor, Report, User, utcnow
from fediserver.websessions import end_all_sessions

MAX_COMMENT = 1000


def in_public_feeds() -> ColumnElement[bool]:
    """The condition on ``Note`` that keeps silenced and suspended local accounts off the local, federated
    and tag feeds (Mastodon's ``Account#silenced?`` filter on public timelines)."""
    hidden = select(LocalActor.id).where(or_(LocalActor.silenced_at.is_not(None), LocalActor.suspended_at.is_not(None)))
    return or_(Note.local_actor_id.is_(None), Note.local_actor_id.not_in(hidden))


async def user_named(session: AsyncSession, username: str) -> User:
    """The login of the local user ``username``; 404 when there is none (or it was deleted)."""
    actor = await accounts.get_user_actor(session, username)
    user = await session.scalar(select(User).where(User.actor_id == actor.id))
    if user is None:
        raise NotFound(f"no local user {username!r}")
    return user


async def set_role(session: AsyncSession, user: User, role: str) -> None:
    """Make ``user`` a ``user``, ``moderator`` or ``admin``; the caller commits."""
    if role not in ROLES:
        raise InvalidInput(f"role {role!r}: use one of {', '.join(ROLES)}")
    user.role = role
    user.is_admin = role == "admin"


async def _end_logins(session: AsyncSession, user: User) -> None:
    await end_all_sessions(session, user.id)
    await session.execute(
        update(OAuthToken)
        .where(OAuthToken.user_id == user.id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def suspend(svc: Services, session: AsyncSession, user: User) -> list[DeliveryJob]:
    """Suspend: logins end, the actor is served as suspended, followers get its ``Update``."""
    actor = user.actor
    if actor.suspended_at is not None:
        raise Conflict(f"{actor.username} is already suspended")
    actor.suspended_at = utcnow()
    await _end_logins(session, user)
    await session.flush()
    return await send_update(svc.fed, session, actor)


async def unsuspend(svc: Services, session: AsyncSession, user: User) -> list[DeliveryJob]:
    actor = user.actor
    if actor.suspended_at is None:
        raise Conflict(f"{actor.username} is not suspended")
    actor.suspended_at = None
    actor.updated_at = utcnow()
    await session.flush()
    return await send_update(svc.fed, session, actor)


async def silence(session: AsyncSession, user: User) -> None:
    if user.actor.silenced_at is not None:
        raise Conflict(f"{user.actor.username} is already silenced")
    user.actor.silenced_at = utcnow()


async def unsilence(session: AsyncSession, user: User) -> None:
    if user.actor.silenced_at is None:
        raise Conflict(f"{user.actor.username} is not silenced")
    user.actor.silenced_at = None


async def users(session: AsyncSession) -> list[User]:
    """Every local user, for the moderators' list."""
    return await accounts.list_users(session)


async def report_note(
    svc: Services, session: AsyncSession, reporter: LocalActor, note: Note, comment: str, *, forward: bool
) -> Report:
    """A member reports ``note``; forwarded as a ``Flag`` when asked and its author is remote."""
    return await _report(svc, session, reporter, note.attributed_to, [note.uri], comment, forward=forward)


async def report_account(
    svc: Services, session: AsyncSession, reporter: LocalActor, account_uri: str, comment: str, *, forward: bool
) -> Report:
    return await _report(svc, session, reporter, account_uri, [], comment, forward=forward)


async def _report(
    svc: Services,
    session: AsyncSession,
    reporter: LocalActor,
    account_uri: str,
    note_uris: list[str],
    comment: str,
    *,
    forward: bool,
) -> Report:
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"comment: at most {MAX_COMMENT} characters")
    if account_uri == svc.urls.actor(reporter.username):
        raise InvalidInput("you cannot report yourself")
    instance = await accounts.ensure_instance_actor(session)
    flag = {
        "@context": ap.AS_CONTEXT,
        "id": svc.urls.flag(secrets.token_urlsafe(16)),
        "type": "Flag",
        "actor": svc.urls.instance_actor(),
        "content": comment,
        "object": [account_uri, *note_uris],
    }
    report = Report(
        activity_uri=flag["id"],
        actor_uri=svc.urls.actor(reporter.username),
        object_uris=[account_uri, *note_uris],
        content=comment,
        raw=flag,
        reporter_actor_id=reporter.id,
    )
    session.add(report)
    remote = await session.scalar(select(RemoteActor).where(RemoteActor.uri == account_uri))
    if forward and remote is not None:
        await outbound.enqueue(svc.fed, session, flag, instance, [outbound.inbox_for(remote)])
        report.forwarded = True
    await session.flush()
    return report


async def resolve_report(session: AsyncSession, report_id: int) -> None:
    report = await session.get(Report, report_id)
    if report is None or report.resolved_at is not None:
        raise NotFound("no such open report")
    report.resolved_at = utcnow()


async def open_reports(session: AsyncSession) -> list[Report]:
    return list(await session.scalars(select(Report).where(Report.resolved_at.is_(None)).order_by(Report.id)))
