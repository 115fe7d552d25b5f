"""Notifications: what happened to a local account (Mastodon's notification types), read or unread.

One event makes one row however often it arrives: ``dedupe_key`` hashes the recipient, the type, who
did it, the post and, for edits, the version. Callers flush and commit with the event they record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain.streams import notification_event
from fediserver.errors import InvalidInput
from fediserver.models import NOTIFICATION_TYPES, LocalActor, Notification, utcnow


def dedupe_key(recipient_id: int, type_: str, from_actor_uri: str, note_uri: str | None, version: str) -> str:
    raw = "\n".join((str(recipient_id), type_, from_actor_uri, note_uri or "", version))
    return hashlib.sha256(raw.encode()).hexdigest()


async def notify(
    session: AsyncSession,
    recipient_id: int,
    type_: str,
    from_actor_uri: str,
    note_uri: str | None = None,
    *,
    version: str = "",
) -> Notification | None:
    """Record the event unless it is already recorded or the actor notifies itself; returns the new row.

    The recipient's ``user`` streams get a ``notification`` event when the caller commits.
    """
    if type_ not in NOTIFICATION_TYPES:
        raise ValueError(f"unknown notification type {type_!r}")
    key = dedupe_key(recipient_id, type_, from_actor_uri, note_uri, version)
    if await session.scalar(select(Notification.id).where(Notification.dedupe_key == key)) is not None:
        return None
    row = Notification(
        local_actor_id=recipient_id, type=type_, from_actor_uri=from_actor_uri, note_uri=note_uri, dedupe_key=key
    )
    session.add(row)
    await session.flush()
    notification_event(session, row)
    return row


async def withdraw(
    session: AsyncSession,
    types: Sequence[str],
    from_actor_uri: str,
    note_uris: Sequence[str] | None = None,
    recipient_ids: Sequence[int] | None = None,
) -> None:
    """Remove what an undone favourite, boost or follow notified (Mastodon destroys the notification with
    its cause): ``types`` from the actor, about any of ``note_uris`` and to any of ``recipient_ids`` if given."""
    stmt = delete(Notification).where(Notification.type.in_(types), Notification.from_actor_uri == from_actor_uri)
    if note_uris is not None:
        stmt = stmt.where(Notification.note_uri.in_(note_uris))
    if recipient_ids is not None:
        stmt = stmt.where(Notification.local_actor_id.in_(recipient_ids))
    await session.execute(stmt)


@dataclass(frozen=True)
class NotificationQuery:
    unread_only: bool = False
    types: Sequence[str] = ()
    limit: int = 40
    max_id: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.limit <= 200:
            raise InvalidInput("limit: must be between 1 and 200")
        unknown = set(self.types) - set(NOTIFICATION_TYPES)
        if unknown:
            raise InvalidInput(f"types: unknown {', '.join(sorted(unknown))}")


async def list_notifications(session: AsyncSession, me: LocalActor, query: NotificationQuery) -> list[Notification]:
    """The account's notifications, newest first."""
    stmt = select(Notification).where(Notification.local_actor_id == me.id)
    if query.unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if query.types:
        stmt = stmt.where(Notification.type.in_(query.types))
    if query.max_id is not None:
        stmt = stmt.where(Notification.id < query.max_id)
    return list(await session.scalars(stmt.order_by(Notification.id.desc()).limit(query.limit)))


async def mark_read(session: AsyncSession, me: LocalActor, up_to_id: int | None = None) -> int:
    """Mark the account's unread notifications (up to ``up_to_id`` if given) read; returns how many."""
    stmt = update(Notification).where(Notification.local_actor_id == me.id, Notification.read_at.is_(None))
    if up_to_id is not None:
        stmt = stmt.where(Notification.id <= up_to_id)
    result = await session.execute(stmt.values(read_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)
