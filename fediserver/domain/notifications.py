"""Notifications: what happened to a local account (Mastodon's notification types), read or unread.

One event makes one row however often it arrives: ``dedupe_key`` hashes the recipient, the type, who
did it, the post and, for edits, the version. Callers commit with the event they record.

Rows are written together: ``notify`` queues the row on the session, and the transaction's queued rows go
in one statement before the first statement that reads or changes ``notifications`` (``do_orm_execute``),
or else just before it commits, together with their ``notification`` stream events. The inbox worker
notifies once per inbound post, tens of posts per transaction; a row at a time was an INSERT each (about
200 µs against 28 µs per row forty at a time, docs/benchmarks.md). Rolled back, nothing is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Select, Table, delete, func, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.util import find_tables

from fediserver.domain import mutes
from fediserver.domain.paging import Window
from fediserver.domain.services import Services
from fediserver.domain.streams import listen_before_commit, notification_event
from fediserver.errors import InvalidInput, NotFound
from fediserver.models import NOTIFICATION_TYPES, ActorBlock, LocalActor, Note, Notification, utcnow
from fediserver.notes import may_see

PENDING = "fediserver.notifications.pending"
NOTIFICATIONS = "notifications"


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
    subject_at: datetime | None = None,
) -> None:
    """Record the event unless it is already recorded (module docstring: written with the transaction).
    ``subject_at``: when the post it is about was published (mentions carry it for the home timeline).

    The recipient's ``user`` streams get a ``notification`` event when the caller commits, if the row is
    new.
    """
    if type_ not in NOTIFICATION_TYPES:
        raise ValueError(f"unknown notification type {type_!r}")
    key = dedupe_key(recipient_id, type_, from_actor_uri, note_uri, version)
    values = {
        "local_actor_id": recipient_id,
        "type": type_,
        "from_actor_uri": from_actor_uri,
        "note_uri": note_uri,
        "dedupe_key": key,
        "created_at": utcnow(),
        "subject_at": subject_at,
    }
    sync = session.sync_session
    if not sync.in_transaction():
        sync.begin()  # so that a rollback or close before any statement ends it, and drops the rows
    queued: dict[str, dict[str, Any]] | None = sync.info.get(PENDING)
    if queued is None:
        queued = sync.info[PENDING] = {}
        if not sa_event.contains(sync, "before_commit", _write):
            listen_before_commit(sync)  # the stream events' writer, behind this one
            sa_event.listen(sync, "before_commit", _write, insert=True)
            sa_event.listen(sync, "do_orm_execute", _before_statement)
            sa_event.listen(sync, "after_transaction_end", _drop)
    queued.setdefault(key, values)


def _write(session: Session) -> None:
    """Insert the queued rows in one statement; a row whose ``dedupe_key`` is taken is skipped, by this
    statement or by a concurrent transaction's (``ON CONFLICT DO NOTHING``), and gets no stream event."""
    queued: dict[str, dict[str, Any]] | None = session.info.pop(PENDING, None)
    if not queued:
        return
    written = session.execute(_insert_statement(session.get_bind().dialect.name), list(queued.values()))
    ids: dict[str, int] = {key: id_ for key, id_ in written}
    for key, values in queued.items():
        if key in ids:
            notification_event(session, ids[key], values["local_actor_id"])


def _before_statement(state: ORMExecuteState) -> None:
    # Reads see the queued rows: a statement that names the table anywhere (a subquery of the home
    # timeline, a DELETE of ``withdraw``) runs after they are written.
    statement = state.statement
    if (
        state.session.info.get(PENDING)
        and isinstance(statement, ClauseElement)
        and any(
            getattr(table, "name", None) == NOTIFICATIONS
            for table in find_tables(statement, include_crud=True, include_joins=True, include_selects=True)
        )
    ):
        _write(state.session)


def _drop(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING, None)


@cache
def _insert_statement(dialect: str) -> Any:
    """The statement that writes the queued rows (``_write``), with the rows as parameters: built once. On
    the table, not the entity: the ORM's bulk INSERT path, returning ``Notification`` objects, cost more
    than the statement itself."""
    insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = cast(Table, Notification.__table__)
    return (
        insert_(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.dedupe_key, table.c.id)
    )


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
    """Which notifications to list: ``types`` keeps, ``exclude_types`` drops, ``from_actor_uri`` keeps one
    sender's, ``hidden_senders`` drops those senders' (mutes with notifications, blocks); cursors are row ids."""

    unread_only: bool = False
    types: Sequence[str] = ()
    limit: int = 40
    max_id: int | None = None
    exclude_types: Sequence[str] = ()
    from_actor_uri: str | None = None
    since_id: int | None = None
    min_id: int | None = None
    hidden_senders: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not 0 < self.limit <= 200:
            raise InvalidInput("limit: must be between 1 and 200")
        unknown = (set(self.types) | set(self.exclude_types)) - set(NOTIFICATION_TYPES)
        if unknown:
            raise InvalidInput(f"types: unknown {', '.join(sorted(unknown))}")

    @property
    def window(self) -> Window:
        return Window(max_id=self.max_id, since_id=self.since_id, min_id=self.min_id, limit=self.limit)


def _filtered(me: LocalActor, query: NotificationQuery) -> Select[Notification]:
    stmt = select(Notification).where(Notification.local_actor_id == me.id)
    if query.unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if query.types:
        stmt = stmt.where(Notification.type.in_(query.types))
    if query.exclude_types:
        stmt = stmt.where(Notification.type.not_in(query.exclude_types))
    if query.from_actor_uri is not None:
        stmt = stmt.where(Notification.from_actor_uri == query.from_actor_uri)
    if query.hidden_senders:
        stmt = stmt.where(Notification.from_actor_uri.not_in(query.hidden_senders))
    return stmt


async def list_notifications(session: AsyncSession, me: LocalActor, query: NotificationQuery) -> list[Notification]:
    """The account's notifications, newest first."""
    window = query.window
    return window.in_order(list(await session.scalars(window.apply(_filtered(me, query), Notification.id))))


async def hidden_senders(svc: Services, session: AsyncSession, me: LocalActor) -> frozenset[str]:
    """Senders whose notifications the user does not see: muted with ``notifications`` (in force) and
    blocked (Mastodon's ``NotificationFilter``)."""
    muted = {uri for uri, row in (await mutes.muted(session, me)).items() if row.notifications}
    me_uri = svc.urls.actor(me.username)
    blocked = await session.scalars(select(ActorBlock.target_uri).where(ActorBlock.actor_uri == me_uri))
    return frozenset(muted | set(blocked))


async def get_notification(session: AsyncSession, me: LocalActor, notification_id: int) -> Notification:
    """One of the account's notifications; another account's is not found."""
    row = await session.get(Notification, notification_id)
    if row is None or row.local_actor_id != me.id:
        raise NotFound("Record not found")
    return row


async def dismiss(session: AsyncSession, me: LocalActor, notification_id: int) -> None:
    """Delete one notification (Mastodon's ``POST /api/v1/notifications/:id/dismiss``)."""
    await session.delete(await get_notification(session, me, notification_id))
    await session.flush()


async def clear(session: AsyncSession, me: LocalActor) -> int:
    """Delete all of the account's notifications; returns how many."""
    result = await session.execute(delete(Notification).where(Notification.local_actor_id == me.id))
    return int(getattr(result, "rowcount", 0) or 0)


async def unread_count(session: AsyncSession, me: LocalActor, hidden: frozenset[str], limit: int = 100) -> int:
    """Unread notifications not hidden, counted up to ``limit`` (Mastodon caps the count the same way)."""
    query = NotificationQuery(unread_only=True, hidden_senders=hidden)
    capped = _filtered(me, query).with_only_columns(Notification.id).limit(limit).subquery()
    return int(await session.scalar(select(func.count()).select_from(capped)) or 0)


async def notes_of(session: AsyncSession, rows: Sequence[Notification], viewer_uri: str) -> dict[str, Note]:
    """The posts these notifications are about, by URI, that are not deleted and ``viewer_uri`` may see."""
    uris = {n.note_uri for n in rows if n.note_uri}
    if not uris:
        return {}
    found = await session.scalars(select(Note).where(Note.uri.in_(uris), Note.deleted_at.is_(None)))
    return {note.uri: note for note in found if await may_see(session, note, viewer_uri)}


async def mark_read(session: AsyncSession, me: LocalActor, up_to_id: int | None = None) -> int:
    """Mark the account's unread notifications (up to ``up_to_id`` if given) read; returns how many."""
    stmt = update(Notification).where(Notification.local_actor_id == me.id, Notification.read_at.is_(None))
    if up_to_id is not None:
        stmt = stmt.where(Notification.id <= up_to_id)
    result = await session.execute(stmt.values(read_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)
