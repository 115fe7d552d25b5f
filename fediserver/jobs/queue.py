"""Claim, finish and reschedule jobs in any table built on ``QueueMixin``.

A job is claimable when it is ``queued`` and due, or ``running`` with an expired lease (its worker died).
Claiming sets ``running``, counts an attempt and leases the row; on PostgreSQL concurrent claimers skip
each other's rows (``FOR UPDATE SKIP LOCKED``); SQLite has a single writer, so the UPDATE is atomic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.models.base import QueueMixin

J = TypeVar("J", bound=QueueMixin)


async def claim(
    session: AsyncSession,
    model: type[J],
    now: datetime,
    lease: timedelta,
    limit: int = 1,
    where: Sequence[ColumnElement[bool]] = (),
) -> Sequence[J]:
    """Lease up to ``limit`` due jobs (matching ``where``, if given) to the caller; committed."""
    table = model.__table__  # type: ignore[attr-defined]
    due = and_(
        or_(
            and_(table.c.state == "queued", table.c.next_attempt_at <= now),
            and_(table.c.state == "running", table.c.locked_until < now),
        ),
        *where,
    )
    candidates = (
        select(table.c.id)
        .where(due)
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(model)
        .where(table.c.id.in_(candidates.scalar_subquery()))
        .where(due)
        .values(state="running", attempts=table.c.attempts + 1, locked_until=now + lease)
        .returning(model)
        .execution_options(synchronize_session=False)
    )
    jobs = list((await session.scalars(stmt)).all())
    await session.commit()
    return jobs


def finish(job: QueueMixin, state: str = "done") -> None:
    job.state = state
    job.locked_until = None


def reschedule(job: QueueMixin, when: datetime, error: str) -> None:
    """Put a failed job back in the queue for ``when``."""
    job.state = "queued"
    job.locked_until = None
    job.next_attempt_at = when
    job.last_error = error


def give_up(job: QueueMixin, error: str) -> None:
    job.state = "failed"
    job.locked_until = None
    job.last_error = error
