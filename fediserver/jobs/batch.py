"""A claimed batch in a few transactions instead of one per job, for handlers that ask for it (``batched``).

On SQLite every job's own transaction costs a pooled connection, a BEGIN and a COMMIT, and the worker runs
one job at a time anyway (one writer): most of a small job's time (the inbox's Create) went there, in round
trips to the database thread. Here the jobs run in order in one session, and the transaction is committed
once it has been open ``MAX_TRANSACTION_SECONDS``, when another writer of this process waits at the
database's ``WriteGate`` (the inbox, with a request waiting for its row to be committed), or when the batch
ends.

Optimistic: when anything in a transaction goes wrong (a handler raises, including ``FetchFirst`` for a
fetch, a row cannot be loaded, the commit fails), the transaction is rolled back whole, so nothing of it is
recorded, and its jobs, the one that went wrong included, run again one by one through
``Worker._process``, each in its own transaction and failure boundary exactly as without batching (a fetch
then holds no connection). No job is processed twice: a rolled-back job left no trace. Per job this saves
the savepoint (two more round trips) that a failure boundary inside the transaction would cost.

On PostgreSQL the worker deals whole partitions to ``concurrency`` lanes, each running its jobs this way.
The handler must not commit or roll back the session itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, update
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


async def run_batched(worker: Worker, handler: JobHandler, jobs: Sequence[queue.Claimed], rows: dict[int, Any]) -> None:
    """Run ``jobs`` in this order, in as few transactions as the limits above allow."""
    done = 0
    while done < len(jobs):
        if done:
            await worker.give_way_if_busy()
        start = done
        try:
            async with worker.sessions() as session:
                gate = write_gate(session)
                async with gate.turn() if gate is not None else contextlib.nullcontext():
                    await begin_writing(session)
                    # A writer already waiting for the gate cuts this transaction to one job: prepare only that
                    # one, not the whole rest of the batch (under load, 64 jobs' look-ups for one job, several
                    # times a second: docs/benchmarks.md).
                    end = start + 1 if gate is not None and gate.wanted else len(jobs)
                    prepare = getattr(handler, "prepare", None)
                    if prepare is not None:
                        await prepare(session, [rows[job.id] for job in jobs[done:end] if job.id in rows])
                    opened = time.monotonic()
                    outcomes: list[dict[str, Any]] = []
                    while done < end and (
                        done == start
                        or (time.monotonic() - opened < MAX_TRANSACTION_SECONDS and not (gate and gate.wanted))
                    ):
                        outcome = await _run_one(handler, session, jobs[done], rows.get(jobs[done].id))
                        if outcome:
                            outcomes.append(outcome)
                        done += 1
                        # A job that ran no statement never yielded (an inbound post waits for its batch's
                        # one INSERT): let the requests sharing this event loop run, and a writer that
                        # wants the gate be seen, before the next job.
                        await asyncio.sleep(0)
                    if outcomes:
                        await session.execute(update(handler.model), outcomes)
                    await session.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failed = jobs[start : done + 1]
            from fediserver.jobs.worker import FetchFirst

            # A fetch is routine; anything else is logged here, and again by the job that fails alone (if it
            # does: a deadlock or a lost connection may not happen twice).
            log.log(
                logging.DEBUG if isinstance(exc, FetchFirst) else logging.WARNING,
                "a batch's transaction was rolled back; running its jobs one by one",
                extra={"queue": handler.name, "jobs": [job.id for job in failed], "error": repr(exc)},
            )
            for claimed in failed:
                await worker._process(handler, claimed, None)
            done = start + len(failed)


async def _run_one(
    handler: JobHandler, session: AsyncSession, claimed: queue.Claimed, row: Any | None
) -> dict[str, Any] | None:
    """Run one job; returns its row's changes (its outcome) by primary key, for one UPDATE of all of them.

    The row leaves the session: flushed on its own, each job's outcome would cost a statement of its own
    at the next job's first query.
    """
    job = await session.merge(row, load=False) if row is not None else await session.get(handler.model, claimed.id)
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
    session.expunge(job)
    return {"id": claimed.id, **changes}


@functools.cache
def _column_keys(mapper: Mapper[Any]) -> frozenset[str]:
    return frozenset(attr.key for attr in mapper.column_attrs)
