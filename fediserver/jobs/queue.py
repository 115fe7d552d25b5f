"""Claim, finish and reschedule jobs in any table built on ``QueueMixin``.

A job is claimable when it is ``queued`` and due, or ``running`` with an expired lease (its worker died).
Claiming sets ``running``, counts an attempt and leases the row; on PostgreSQL concurrent claimers skip
each other's rows (``FOR UPDATE SKIP LOCKED``); SQLite has a single writer, so the UPDATE is atomic.

With ``max_attempts``, a due job that has used up its attempts is not claimed again but failed, by the
claiming statement itself: a job whose worker dies on it every time (killed, out of memory) is not retried
forever.

Claims read ``claim_index`` (jobs by state, then in claim order), so their cost follows the batch, not the
backlog nor the history of done jobs that every queue table keeps.

With ``in_order_of`` (a column, e.g. a delivery's ``inbox_url``), a job is not claimed while an older job
with the same value is ``running``: jobs with one key run in id order across workers and processes.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    CTE,
    ColumnElement,
    Update,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.models.base import QueueMixin

J = TypeVar("J", bound=QueueMixin)

EXHAUSTED = "attempts cap reached: the last attempt's worker stopped without recording an outcome"


@dataclass(frozen=True)
class Claimed:
    """A leased job, by id: its row is loaded (and its stored body decoded) separately."""

    id: int
    attempts: int


def _branch(
    table: Any, name: str, taken: ColumnElement[bool], limit: int, where: Sequence[ColumnElement[bool]], key: str | None
) -> CTE:
    """One kind of claimable job (queued and due, or running with a lapsed lease), oldest first, locked
    (PostgreSQL) and skipping those others locked: a range of ``claim_index`` read in its order, so a claim
    reads about ``limit`` rows whatever the backlog or the history. One condition per branch, not an OR of the two:
    for an OR PostgreSQL without statistics combined two bitmap scans and SQLite read the state index, each
    then reading and sorting the whole backlog (85 ms a claim at 100,000 queued, docs/benchmarks.md)."""
    columns = [table.c.id, table.c.next_attempt_at, *([table.c[key]] if key is not None else [])]
    return (
        select(*columns)
        .where(taken, *where)
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte(name)
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


def _claim_values(now: datetime, lease: timedelta) -> dict[str, datetime]:
    """The parameters of a statement from ``_claim_statement``."""
    return {"claim_now": now, "claim_leased_until": now + lease}


def _claim_statement(
    model: type[QueueMixin],
    limit: int,
    where: Sequence[ColumnElement[bool]],
    max_attempts: int | None,
    keys: tuple[str, int] | None = None,
) -> Update:
    """Lease up to ``limit`` due jobs; with ``max_attempts``, those that have used them up are failed by the
    same statement instead (they come back with state ``failed``), so that the cap costs no scan of its own.
    With ``keys`` (a column and a number), the jobs of that many values of the column at most. The time and
    the lease are parameters (``_claim_values``), so that one statement serves every claim of a kind."""
    table: Any = model.__table__  # type: ignore[attr-defined]
    now = bindparam("claim_now", type_=table.c.next_attempt_at.type)
    key = keys[0] if keys is not None else None
    due = _branch(table, "due", and_(table.c.state == "queued", table.c.next_attempt_at <= now), limit, where, key)
    lapsed = _branch(table, "lapsed", and_(table.c.state == "running", table.c.locked_until < now), limit, where, key)
    both = union_all(select(*due.c), select(*lapsed.c)).subquery("either")
    order = (both.c.next_attempt_at, both.c.id)
    if keys is None:
        chosen = select(both.c.id).order_by(*order)
    else:
        # The jobs of the first ``keys[1]`` keys in the order their oldest jobs are due.
        numbered = select(both, func.row_number().over(order_by=order).label("pos")).subquery("numbered")
        first = func.min(numbered.c.pos).over(partition_by=numbered.c[keys[0]])
        firsts = select(numbered.c.id, numbered.c.pos, first.label("first")).subquery("firsts")
        ranked = select(firsts, func.dense_rank().over(order_by=firsts.c.first).label("rank")).subquery("ranked")
        chosen = select(ranked.c.id).where(ranked.c.rank <= keys[1]).order_by(ranked.c.pos)
    candidates = (
        chosen.limit(limit)
        # Chosen once: as a subquery, PostgreSQL may rescan it for each row it updates, and a rescan skips
        # the rows this statement has just locked and returns the next ones, claiming more than ``limit``.
        .cte("candidates")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    leased_until = bindparam("claim_leased_until", type_=table.c.locked_until.type)
    values: dict[str, Any] = {"state": "running", "attempts": table.c.attempts + 1, "locked_until": leased_until}
    if max_attempts is not None:
        spent = table.c.attempts >= max_attempts
        previous = func.coalesce(literal("; last error: ") + table.c.last_error, literal(""))
        values = {
            "state": case((spent, literal("failed")), else_=literal("running")),
            "attempts": case((spent, table.c.attempts), else_=table.c.attempts + 1),
            "locked_until": case((spent, null()), else_=leased_until),
            "last_error": case((spent, literal(EXHAUSTED) + previous), else_=table.c.last_error),
        }
    # No second test of the conditions here: on PostgreSQL ``FOR UPDATE`` tests a row again as it locks it
    # (a row changed since the statement began is read in its new version), and the lock holds until the
    # claim commits; SQLite runs the statement under its one writer's lock. Tested again here, they were a
    # join against the whole backlog in PostgreSQL's plan (docs/benchmarks.md).
    return (
        update(model)
        .where(table.c.id.in_(select(candidates.c.id)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _not_overtaking(model: type[QueueMixin], column: str) -> ColumnElement[bool]:
    """No older job with the same ``column`` value is running (its lease live or lapsed: a lapsed one is
    claimed again first, or failed by the attempts cap, so it blocks only until the next claim)."""
    table: Any = model.__table__  # type: ignore[attr-defined]
    older = table.alias("older")
    return ~exists().where(older.c[column] == table.c[column], older.c.id < table.c.id, older.c.state == "running")


# PostgreSQL plans the claim's transaction without bitmap or sequential scans of the queue table. Without
# statistics, or with statistics of a quieter hour (a new instance's tables; a backlog that grew faster than
# autovacuum looks), the planner guessed a dozen due jobs and read every one of them, through a bitmap or the
# whole table, to sort them: 100 ms a claim at 100,000 queued (docs/benchmarks.md). ``claim_index`` read in
# its order is then the only plan left, whatever the statistics say.
_IN_ORDER = "set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)"
_PLAN = text(f"SELECT {_IN_ORDER}")
_PLAN_IN_TURN = text(f"SELECT {_IN_ORDER}, pg_advisory_xact_lock(:key)")


async def _begin_claim(session: AsyncSession, model: type[QueueMixin], *, in_turn: bool) -> None:
    """On PostgreSQL, one statement before the claim: its plan settings (``_IN_ORDER``) and, ``in_turn``,
    a transaction-level advisory lock so that claims of ``model`` take turns (a concurrent claim would not
    yet see the other's rows as ``running`` and could take a younger job of the same key). SQLite needs
    neither: it keeps no statistics to mislead, and its single writer makes claims take turns already."""
    bind = session.bind
    if bind is None or bind.dialect.name != "postgresql":
        return
    if not in_turn:
        await session.execute(_PLAN)
        return
    table: Any = model.__table__  # type: ignore[attr-defined]
    key = zlib.crc32(f"fediserver.claim.{table.name}".encode())
    await session.execute(_PLAN_IN_TURN, {"key": key})


async def claim(
    session: AsyncSession,
    model: type[J],
    now: datetime,
    lease: timedelta,
    limit: int = 1,
    where: Sequence[ColumnElement[bool]] = (),
    max_attempts: int | None = None,
) -> Sequence[J]:
    """Lease up to ``limit`` due jobs (matching ``where``, if given) to the caller; committed."""
    await _begin_claim(session, model, in_turn=False)
    stmt = _claim_statement(model, limit, where, max_attempts).returning(model)
    jobs = [job for job in (await session.scalars(stmt, _claim_values(now, lease))).all() if job.state == "running"]
    await session.commit()
    return jobs


async def claim_ids(
    session: AsyncSession,
    model: type[QueueMixin],
    now: datetime,
    lease: timedelta,
    limit: int = 1,
    where: Sequence[ColumnElement[bool]] = (),
    max_attempts: int | None = None,
    in_order_of: str | None = None,
    keys_per_claim: int | None = None,
) -> list[Claimed]:
    """Like ``claim``, but returns ids and attempt numbers only: no stored body is decoded while claiming,
    so one row that cannot be read fails alone instead of failing every claim.

    ``in_order_of`` names a column whose jobs run one at a time in id order (see the module's docstring);
    the caller runs the jobs of one claimed batch that share it one after another, oldest first. With it,
    ``keys_per_claim`` bounds how many of its values one claim takes (those whose oldest jobs are due first),
    so that a batch larger than the number of busy keys leaves some to another worker."""
    await _begin_claim(session, model, in_turn=in_order_of is not None)
    if where:
        stmt = _ids_claim(model, limit, tuple(where), max_attempts, in_order_of, keys_per_claim)
    else:
        stmt = _cached_ids_claim(model, limit, max_attempts, in_order_of, keys_per_claim)
    rows = (await session.execute(stmt, _claim_values(now, lease))).all()
    claimed = [Claimed(id=row.id, attempts=row.attempts) for row in rows if row.state == "running"]
    await session.commit()
    return claimed


def _ids_claim(
    model: type[QueueMixin],
    limit: int,
    where: tuple[ColumnElement[bool], ...],
    max_attempts: int | None,
    in_order_of: str | None,
    keys_per_claim: int | None,
) -> Update:
    """``claim_ids``'s statement, returning ids, attempts and states."""
    claimable = list(where)
    if in_order_of is not None:
        claimable.append(_not_overtaking(model, in_order_of))
    table: Any = model.__table__  # type: ignore[attr-defined]
    keys = (in_order_of, keys_per_claim) if in_order_of is not None and keys_per_claim is not None else None
    return _claim_statement(model, limit, claimable, max_attempts, keys).returning(
        table.c.id, table.c.attempts, table.c.state
    )


# Kinds of claim seen so far: a handful per process (one per queue a worker serves).
_IDS_CLAIMS: dict[tuple[str, int, int | None, str | None, int | None], Update] = {}


def _cached_ids_claim(
    model: type[QueueMixin], limit: int, max_attempts: int | None, in_order_of: str | None, keys_per_claim: int | None
) -> Update:
    """``_ids_claim`` without extra conditions, built once per kind of claim: a worker claims from each of its
    queues every pass, and building the statement cost more Python than running it (2.1 ms for the inbox's,
    a third of a PostgreSQL inbox worker's time, docs/benchmarks.md)."""
    kind = (model.__table__.name, limit, max_attempts, in_order_of, keys_per_claim)  # type: ignore[attr-defined]
    statement = _IDS_CLAIMS.get(kind)
    if statement is None:
        statement = _IDS_CLAIMS[kind] = _ids_claim(model, limit, (), max_attempts, in_order_of, keys_per_claim)
    return statement


async def settle(
    session: AsyncSession, model: type[QueueMixin], job: Claimed, when: datetime | None, error: str
) -> None:
    """Record a failed attempt of a leased job by id, without loading its row: retry at ``when``, or fail
    for good when None. A job whose lease lapsed and was claimed again is left to its new worker. The
    caller commits."""
    table: Any = model.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {"locked_until": None, "last_error": error}
    if when is None:
        values["state"] = "failed"
    else:
        values.update(state="queued", next_attempt_at=when)
    await session.execute(
        update(model)
        .where(table.c.id == job.id, table.c.state == "running", table.c.attempts == job.attempts)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def unclaim(session: AsyncSession, model: type[QueueMixin], jobs: Sequence[Claimed]) -> None:
    """Hand jobs just claimed back untried: queued again, due as before, the attempt not counted. The caller
    commits."""
    if not jobs:
        return
    table: Any = model.__table__  # type: ignore[attr-defined]
    await session.execute(
        update(model)
        .where(table.c.id.in_([job.id for job in jobs]), table.c.state == "running")
        .values(state="queued", attempts=table.c.attempts - 1, locked_until=None)
        .execution_options(synchronize_session=False)
    )


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
