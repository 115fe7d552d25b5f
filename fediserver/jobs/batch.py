"""A claimed batch in a few transactions instead of one per job, for handlers that ask for it (``batched``).

On SQLite every job's own transaction costs a pooled connection, a BEGIN and a COMMIT, and the worker runs
one job at a time anyway (one writer): most of a small job's time (the inbox's Create) went there, in round
trips to the database thread. Here the jobs run in order in one session, and the transaction is committed
once it has been open ``MAX_TRANSACTION_SECONDS``, when another writer of this process waits at the
database's ``WriteGate`` (the inbox, with a request waiting for its row to be committed), or when the batch
ends.

Optimistic: when anything in a transaction goes wrong (a handler raises, including ``FetchFirst`` for a
fetch, a row cannot be loaded, the commit fails), the transaction is rolled back whole, so nothing of it is
recorded. The job that went wrong leaves the batch, and its partition's later jobs with it (every partition
of the transaction, when the UPDATE or the COMMIT failed); the rest of the transaction runs again without
them. The worker then runs those partitions' jobs one by one through ``Worker._process``, each in its own
transaction and failure boundary exactly as without batching (a fetch then holds no connection), up to
``concurrency`` partitions at once, so that slow remote servers are waited on side by side while the
batch's other jobs share a transaction. No job is processed twice: a rolled-back job left no trace. Per
job this saves the savepoint (two more round trips) that a failure boundary inside the transaction would
cost.

One transaction at a time, on either database. On PostgreSQL the batch ran in ``concurrency`` lanes of a
transaction each: the inbox's 64 jobs in 8 lanes cost 2.4 statements per Create against 0.5 in one, and
the drain ran at half the rate (docs/benchmarks.md). The handler must not commit or roll back the session
itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, Update, bindparam, inspect, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from fediserver.db import begin_writing, write_gate
from fediserver.jobs import queue

if TYPE_CHECKING:
    from fediserver.jobs.worker import JobHandler, Worker

log = logging.getLogger("fediserver.worker")

# Long enough to share one COMMIT among tens of small jobs; short enough that a writer which does not take
# turns at the ``WriteGate`` (another process, the API) waits at most about this long for the lock.
MAX_TRANSACTION_SECONDS = 0.05


async def run_batched(
    worker: Worker, handler: JobHandler, groups: Sequence[Sequence[queue.Claimed]], rows: dict[int, Any]
) -> list[list[queue.Claimed]]:
    """Run ``groups`` (partitions, each in its order) one after another, in as few transactions as the limits
    above allow; returns the partitions, each from its first job that went wrong on, to run one job at a time.
    ``rows`` (claimed rows by id, detached) are run as they are; the rows of a transaction that rolled back
    leave it, and their jobs load theirs afresh.

    When a transaction fails, the job that raised leaves the batch with its partition's later jobs, so that
    one sender's order holds (when the UPDATE or the COMMIT failed, every partition of the transaction does,
    from its first job there); the rest of the transaction runs again without them.
    """
    order = [(part, job) for part, group in enumerate(groups) for job in group]
    # Partition -> the position in ``order`` from which its jobs run alone.
    alone: dict[int, int] = {}

    def batched(at: int) -> bool:
        return order[at][0] not in alone or at < alone[order[at][0]]

    position = 0
    while True:
        while position < len(order) and not batched(position):
            position += 1
        if position == len(order):
            break
        if position:
            await worker.give_way_if_busy()
        start = position
        failed_at: int | None = None  # the job running when something raised
        try:
            async with worker.sessions() as session:
                gate = write_gate(session)
                async with gate.turn() if gate is not None else contextlib.nullcontext():
                    await begin_writing(session)
                    # A writer already waiting for the gate cuts this transaction to one job: prepare only that
                    # one, not the whole rest of the batch (under load, 64 jobs' look-ups for one job, several
                    # times a second: docs/benchmarks.md).
                    runnable = [job for at, (_, job) in enumerate(order) if at >= start and batched(at)]
                    if gate is not None and gate.wanted:
                        runnable = runnable[:1]
                    prepare = getattr(handler, "prepare", None)
                    if prepare is not None:
                        await prepare(session, [rows[job.id] for job in runnable if job.id in rows])
                    opened = time.monotonic()
                    outcomes: list[dict[str, Any]] = []
                    ran = 0
                    while position < len(order) and (
                        ran == 0
                        or (
                            ran < len(runnable)
                            and time.monotonic() - opened < MAX_TRANSACTION_SECONDS
                            and not (gate and gate.wanted)
                        )
                    ):
                        if batched(position):
                            failed_at, claimed = position, order[position][1]
                            outcome = await _run_one(handler, session, claimed, rows.get(claimed.id))
                            if outcome:
                                outcomes.append(outcome)
                            ran += 1
                            # A job that ran no statement never yielded (an inbound post waits for its
                            # batch's one INSERT): let the requests sharing this event loop run, and a writer
                            # that wants the gate be seen, before the next job.
                            await asyncio.sleep(0)
                        failed_at = None
                        position += 1
                    await _record(session, handler.model, outcomes)
                    await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            from fediserver.jobs.worker import FetchFirst

            # The job that raised, from itself on; else (the UPDATE, the COMMIT) every partition that ran here,
            # from its first job in this transaction on.
            spans = [failed_at] if failed_at is not None else range(start, max(position, start + 1))
            blamed: dict[int, int] = {}
            for at in spans:
                if batched(at):
                    blamed.setdefault(order[at][0], at)
            # A fetch is routine; anything else is logged here, and again by the job that fails alone (if it
            # does: a deadlock or a lost connection may not happen twice).
            log.log(
                logging.DEBUG if isinstance(exc, FetchFirst) else logging.WARNING,
                "a batch's transaction was rolled back; its jobs run again, those that went wrong one by one",
                extra={
                    "queue": handler.name,
                    "jobs": [job.id for at, (part, job) in enumerate(order) if at >= blamed.get(part, len(order))],
                    "error": repr(exc),
                },
            )
            alone.update(blamed)
            # Changed by the jobs that ran, and those changes were rolled back with the transaction.
            for _, job in order[start : position + 1]:
                rows.pop(job.id, None)
            position = start
    return [
        [job for at, (part, job) in enumerate(order) if part == blamed_part and at >= since]
        for blamed_part, since in alone.items()
    ]


async def _run_one(
    handler: JobHandler, session: AsyncSession, claimed: queue.Claimed, row: Any | None
) -> dict[str, Any] | None:
    """Run one job; returns its row's changes (its outcome) by primary key, for one UPDATE of all of them.

    The row stays out of the session: flushed on its own, each job's outcome would cost a statement of its
    own at the next job's first query. A claimed row loaded with its batch (``row``, detached, leased to this
    worker) is run as it is; merging it in and expunging it again cost a twentieth of a PostgreSQL inbox
    worker's time (docs/benchmarks.md).
    """
    job = row if row is not None else await session.get(handler.model, claimed.id)
    if job is None:  # deleted since it was claimed (e.g. with its actor)
        return None
    await handler.handle(session, job)
    if job.state == "running":
        queue.finish(job)
    state = inspect(job)
    # The columns set since the row was merged are those the session keeps a committed value for (a
    # column set to the value it had is written again, harmlessly); asking each column's history was a
    # twentieth of the inbox worker's time per job, and building the attribute map another.
    columns = _column_keys(state.mapper)
    changes = {key: state.dict[key] for key in state.committed_state if key in columns}
    if row is None:
        session.expunge(job)
    return {"id": claimed.id, **changes}


async def _record(session: AsyncSession, model: Any, outcomes: list[dict[str, Any]]) -> None:
    """Write the jobs' outcomes by id, through Core: jobs with equal changes (a batch's jobs mostly end alike)
    in one ``UPDATE ... WHERE id IN``, the others in one run of an UPDATE per set of changed columns. The ORM's
    UPDATE by primary key handled each row in Python, and a run of an UPDATE per row still cost a twelfth of
    a PostgreSQL inbox worker's time (docs/benchmarks.md)."""
    table = model.__table__
    alike: dict[tuple[tuple[str, Any], ...], list[dict[str, Any]]] = {}
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for outcome in outcomes:
        changes = tuple(sorted((key, value) for key, value in outcome.items() if key != "id"))
        try:
            alike.setdefault(changes, []).append(outcome)
        except TypeError:  # a value that cannot be compared (JSON)
            by_columns.setdefault(tuple(key for key, _ in changes), []).append(outcome)
    for changes, group in alike.items():
        columns = tuple(key for key, _ in changes)
        if len(group) > 1 and all(column in table.c for column in columns):
            values = {f"outcome_{key}": value for key, value in changes}
            values["outcome_ids"] = [outcome["id"] for outcome in group]
            await session.execute(_outcome_update(table, columns, many_ids=True), values)
        else:
            by_columns.setdefault(columns, []).extend(group)
    for columns, group in by_columns.items():
        if not all(column in table.c for column in columns):  # an attribute named unlike its column
            await session.execute(update(model), group)
            continue
        rows = [{f"outcome_{key}": value for key, value in outcome.items()} for outcome in group]
        await session.execute(_outcome_update(table, columns), rows)


@functools.cache
def _outcome_update(table: Table, columns: tuple[str, ...], *, many_ids: bool = False) -> Update:
    """``UPDATE table SET columns... WHERE id = ...`` (``outcome_id``), or with ``many_ids`` the same values for
    every id in ``outcome_ids``; the values as parameters named ``outcome_<column>`` (a parameter may not bear
    the name of a column it sets)."""
    by_id = table.c.id == bindparam("outcome_id")
    ids = table.c.id.in_(bindparam("outcome_ids", expanding=True)) if many_ids else by_id
    return update(table).where(ids).values({column: bindparam(f"outcome_{column}") for column in columns})


@functools.cache
def _column_keys(mapper: Mapper[Any]) -> frozenset[str]:
    return frozenset(attr.key for attr in mapper.column_attrs)
