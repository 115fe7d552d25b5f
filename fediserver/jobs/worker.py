"""The worker loop: claim due jobs from each registered queue, run their handler, record the outcome.

A handler returns normally (the job is done), raises ``PermanentJobError`` (the job fails for good) or
raises anything else (the job is retried by the handler's policy until it gives up, at the latest after
its ``max_attempts``). Every failure is logged with its traceback and kept in ``last_error``.

Failure boundaries: a job whose row cannot be loaded (a stored body too deep to decode), whose handler
fails, or whose outcome cannot be recorded fails alone, recorded by id; a pass that fails as a whole
(the database is unreachable) is logged and retried with backoff. Only cancellation ends ``run`` early.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.db import reading_alone
from fediserver.jobs import doorbell, ordering, queue
from fediserver.jobs.batch import run_batched
from fediserver.jobs.doorbell import Doorbell
from fediserver.jobs.retry import Backoff, next_attempt
from fediserver.models.base import QueueMixin

log = logging.getLogger("fediserver.worker")

# A failed pass waits poll_interval * 2**n, at most this long, before the next.
MAX_PASS_BACKOFF_SECONDS = 60.0
# A worker that gives way (``Worker.gives_way``) waits until nothing was enqueued for this long, and at
# most MAX_GIVE_WAY_SECONDS, before its next pass.
GIVE_WAY_QUIET_SECONDS = 0.05
MAX_GIVE_WAY_SECONDS = 1.0
# The bells rung by requests (another web process's inbox), to which a giving-way worker listening on them
# gives way as to its own process's; deliveries ring too, but the worker itself queues most of them.
REQUEST_BELLS = (doorbell.INBOX,)
# last_error keeps the reason, not a remote server's whole answer.
MAX_ERROR_CHARS = 1000

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class PermanentJobError(Exception):
    """The job cannot succeed by retrying (e.g. the target answered 410 Gone)."""


class FetchFirst(Exception):
    """The handler needs something from the network before it can go on.

    The worker rolls the job's transaction back, so that its database connection goes back to the pool,
    awaits ``fetch(sessions)`` (which may only open short sessions of its own), and runs the handler
    again; the handler finds what was fetched where ``fetch`` put it. No connection is held during the
    round trip, however slow the remote server is (issue 8). An exception from ``fetch`` is the job's
    failure, retried by the handler's policy like any other.
    """

    def __init__(self, fetch: Callable[[async_sessionmaker[AsyncSession]], Awaitable[None]], what: str) -> None:
        super().__init__(f"needs {what} fetched first")
        self.fetch = fetch


# Fetches one job may ask for before it is failed (a handler that keeps asking is a bug).
MAX_FETCHES = 8


class RetryLater(Exception):
    """A retryable failure that may carry a server's ``Retry-After`` and status."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class JobHandler(Protocol):
    """Processes one kind of job; ``model`` is its table."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> type[QueueMixin]: ...

    @property
    def backoff(self) -> Backoff: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def concurrency(self) -> int:
        """How many of a claimed batch's groups run at once, each job in its own transaction (of a batched
        handler: the groups that left the shared transaction)."""
        ...

    # Optional: ``doorbell`` (a channel of ``jobs.doorbell``), the bell rung when a job is queued here, so
    # that a worker woken by it looks at this queue again at once.
    # Optional: ``batched`` (a bool attribute) runs a claimed batch in few transactions (``jobs.batch``),
    # one partition after another, for a handler that never commits the session itself; then
    # ``async prepare(session, rows)`` is called at the start of each transaction with the rows it may run.

    @property
    def max_attempts(self) -> int:
        """Attempts after which a job fails for good, whatever its horizon."""
        ...

    def give_up_at(self, job: Any) -> datetime | None: ...

    async def handle(self, session: AsyncSession, job: Any) -> None: ...


@dataclass
class Worker:
    sessions: async_sessionmaker[AsyncSession]
    handlers: Sequence[JobHandler]
    lease: timedelta = timedelta(minutes=5)
    poll_interval: float = 1.0
    clock: Clock = system_clock
    # The in-process worker shares the event loop and SQLite's one writer with the requests that enqueue its
    # jobs: after a pass during or just before which jobs were enqueued (``wake``), and between the
    # transactions of a pass, it waits while such requests run (``serving``) and until they stop coming
    # (GIVE_WAY_QUIET_SECONDS without one), one transaction a second at least. Under load a batch's every
    # await waits behind a hundred requests, so a pass held the write lock for 100-200 ms and the inbox's
    # group commit waited for it (docs/benchmarks.md); the queue is worked off once the burst ends. With
    # ``woken_by``, a ring of a REQUEST_BELLS channel (another web process's inbox) counts as an enqueue:
    # that process's requests need the CPU and SQLite's writer as much as this one's.
    gives_way: bool = False
    # Rung by someone else when there is work (``jobs.doorbell``): for a worker process of its own, which
    # nobody in its process calls ``wake`` for. A handler's ``doorbell`` attribute names the channel rung for
    # its queue.
    woken_by: Doorbell | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _woken_directly: bool = False
    _woken_at: float = float("-inf")
    # Queues (by handler name) whose last claim in ``run`` came back empty, and when.
    _found_empty: dict[str, float] = field(default_factory=dict)
    _serving: int = 0
    _commit_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if self.woken_by is not None:
            self._wake = self.woken_by.any

    def wake(self) -> None:
        """Look for jobs now instead of at the next poll (called after enqueueing)."""
        self._woken_at = time.monotonic()
        self._woken_directly = True
        self._wake.set()

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Around a request that enqueues jobs (the inbox's): a worker that gives way waits while any runs.

        A request in flight counts, not only one that ended (``wake``): an inbox request waits for its group
        commit, and a commit slower than GIVE_WAY_QUIET_SECONDS would otherwise make a hundred waiting
        requests look like a quiet inbox (docs/benchmarks.md).
        """
        self._serving += 1
        try:
            yield
        finally:
            self._serving -= 1
            self._woken_at = time.monotonic()

    def _enqueued_at(self) -> float:
        """When a request last enqueued a job: in this process (``wake``, ``serving``) or, heard through
        ``woken_by``, in another."""
        if self.woken_by is None:
            return self._woken_at
        heard = self.woken_by.heard_at
        return max(self._woken_at, *(heard.get(channel, float("-inf")) for channel in REQUEST_BELLS))

    def _busy(self) -> bool:
        return self._serving > 0 or time.monotonic() - self._enqueued_at() < GIVE_WAY_QUIET_SECONDS

    async def run_once(self) -> int:
        """Claim and process one batch from each queue; returns how many jobs were processed.

        A queue that cannot be claimed from, or whose failures cannot be recorded (the database is
        unreachable), is logged and skipped; its leased jobs are taken back when their lease lapses. If no
        queue made progress, the first such error is raised, so that ``run`` backs off.
        """
        return await self._pass(self.handlers)

    def _due_for_claim(self, woken: bool) -> list[JobHandler]:
        """The queues ``run``'s next pass claims from: not those found empty less than ``poll_interval`` ago,
        unless woken for them (``wake``: every queue; a doorbell: the queues of the channels that rang).

        A worker draining one queue claimed from every other queue each pass, and found them empty: two of a
        PostgreSQL inbox pass's three claims, eight of its 26 round trips (docs/benchmarks.md). A job enqueued
        meanwhile waits as it would for an idle worker: until a wake-up or the poll interval.
        """
        if woken:
            rung = None if self._woken_directly or self.woken_by is None else self.woken_by.take_rung()
            self._woken_directly = False
            for handler in self.handlers:
                if rung is None or getattr(handler, "doorbell", None) in rung:
                    self._found_empty.pop(handler.name, None)
        now = time.monotonic()
        return [
            handler
            for handler in self.handlers
            if now - self._found_empty.get(handler.name, float("-inf")) >= self.poll_interval
        ]

    async def _pass(self, handlers: Sequence[JobHandler]) -> int:
        processed = 0
        errors: list[Exception] = []
        for handler in handlers:
            try:
                processed += await self._run_queue(handler)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("worker pass over a queue failed", exc_info=True, extra={"queue": handler.name})
                errors.append(exc)
        if errors and not processed:
            raise errors[0]
        return processed

    async def _run_queue(self, handler: JobHandler) -> int:
        async with self.sessions() as session:
            claimed = await queue.claim_ids(
                session,
                handler.model,
                self.clock(),
                self.lease,
                handler.batch_size,
                max_attempts=handler.max_attempts,
                in_order_of=getattr(handler, "in_order_of", None),
                keys_per_claim=getattr(handler, "keys_per_claim", None),
            )
        if not claimed:
            self._found_empty[handler.name] = time.monotonic()
            return 0
        self._found_empty.pop(handler.name, None)
        rows = await self._load(handler, claimed)
        if getattr(handler, "batched", False):
            # In the order of their keys, so that concurrent workers' transactions take per-sender locks in one
            # order: in arrival order two PostgreSQL workers deadlocked on the ``account_stats`` rows their
            # notes' trigger updates, each then waiting a second (deadlock_timeout) and one running its whole
            # transaction again job by job (docs/benchmarks.md).
            groups = ordering.partitions(handler, claimed, rows, by_key=True)
            alone = await run_batched(self, handler, groups, rows)
            # Rolled back with the job that went wrong: loaded afresh.
            await self._run_groups(handler, alone, {})
            return len(claimed)
        groups, returned = ordering.plan_pass(handler, claimed, rows)
        if returned:
            async with self.sessions() as session:
                await queue.unclaim(session, handler.model, returned)
                async with self._commits(session):
                    await session.commit()
        await self._run_groups(handler, groups, rows)
        return sum(len(jobs) for jobs in groups)

    async def _run_groups(
        self, handler: JobHandler, groups: Sequence[Sequence[queue.Claimed]], rows: dict[int, Any]
    ) -> None:
        """Each group's jobs one after another, each in its own transaction; up to ``concurrency`` groups at
        once."""
        limit = asyncio.Semaphore(max(handler.concurrency, 1))

        async def bounded(jobs: Sequence[queue.Claimed]) -> None:
            async with limit:
                for job in jobs:
                    await self._process(handler, job, rows.get(job.id))

        outcomes = await asyncio.gather(*(bounded(jobs) for jobs in groups), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _load(self, handler: JobHandler, claimed: Sequence[queue.Claimed]) -> dict[int, Any]:
        """The claimed rows in one query; empty when any of them cannot be read (each then loads alone)."""
        model: Any = handler.model
        try:
            async with self.sessions() as session:
                await reading_alone(session)
                rows = await session.scalars(_rows_by_id(model), {"ids": [job.id for job in claimed]})
                return {row.id: row for row in rows}
        except Exception:
            log.warning(
                "a claimed batch could not be loaded; loading its jobs one by one",
                exc_info=True,
                extra={"queue": handler.name, "jobs": [job.id for job in claimed]},
            )
            return {}

    async def _process(self, handler: JobHandler, claimed: queue.Claimed, row: Any | None) -> None:
        """Run one job inside its failure boundary: whatever goes wrong, this job's outcome is recorded."""
        try:
            for _ in range(MAX_FETCHES + 1):
                need: FetchFirst | None = None
                async with self.sessions() as session:
                    try:
                        # A batch-loaded row is clean and leased to us: no need to load it again.
                        job = await session.merge(row, load=False) if row is not None else None
                        if job is None:
                            job = await session.get(handler.model, claimed.id)
                    except Exception as exc:
                        unreadable: Exception | None = exc
                    else:
                        unreadable = None
                        if job is not None:  # None: deleted since it was claimed (e.g. with its actor)
                            try:
                                await self._run_handler(handler, session, job)
                            except FetchFirst as exc:
                                await session.rollback()
                                need = exc
                            else:
                                async with self._commits(session):
                                    await session.commit()
                if need is None:
                    break
                # The session is closed: its connection is back in the pool while the network is waited on.
                if not await self._fetch(handler, claimed, need):
                    return
                row = None  # rolled back: load it afresh
            else:
                raise RuntimeError(f"the handler asked for more than {MAX_FETCHES} fetches")
            if unreadable is not None:
                await self._fail_unreadable(handler, claimed, unreadable)
        except asyncio.CancelledError:
            # Shutting down: the lease expires and another worker (or this one restarted) retries.
            raise
        except Exception as exc:
            log.error(
                "job outcome could not be recorded; recording the failure by id",
                exc_info=True,
                extra={"queue": handler.name, "job": claimed.id, "attempt": claimed.attempts},
            )
            await self._settle(handler, claimed, self._retry_at(handler, claimed.attempts, None, exc), exc)

    async def _fetch(self, handler: JobHandler, claimed: queue.Claimed, need: FetchFirst) -> bool:
        """Run a fetch the handler asked for; False when it failed (the job's failure is then recorded)."""
        try:
            await need.fetch(self.sessions)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            level = logging.WARNING if isinstance(exc, PermanentJobError | RetryLater) else logging.ERROR
            log.log(
                level,
                "job fetch failed",
                exc_info=level == logging.ERROR,
                extra={"queue": handler.name, "job": claimed.id, "error": _describe(exc)},
            )
            await self._settle(handler, claimed, self._retry_at(handler, claimed.attempts, None, exc), exc)
            return False
        return True

    async def _run_handler(self, handler: JobHandler, session: AsyncSession, job: Any) -> None:
        try:
            await handler.handle(session, job)
        except (asyncio.CancelledError, FetchFirst):
            raise
        except Exception as exc:
            await session.rollback()
            await session.refresh(job)
            self._record_failure(handler, job, exc)
        else:
            if job.state == "running":
                queue.finish(job)

    async def _fail_unreadable(self, handler: JobHandler, claimed: queue.Claimed, exc: Exception) -> None:
        """A row that cannot be loaded fails for good (decoding it again gives the same error), unless the
        database itself failed."""
        transient = isinstance(exc, DBAPIError | OSError)
        log.error(
            "job row could not be read",
            exc_info=exc,
            extra={"queue": handler.name, "job": claimed.id, "attempt": claimed.attempts, "error": _describe(exc)},
        )
        when = self._retry_at(handler, claimed.attempts, None, exc) if transient else None
        await self._settle(handler, claimed, when, exc)

    async def _settle(self, handler: JobHandler, claimed: queue.Claimed, when: datetime | None, exc: Exception) -> None:
        async with self.sessions() as session:
            await queue.settle(session, handler.model, claimed, when, _describe(exc))
            async with self._commits(session):
                await session.commit()

    def _commits(self, session: AsyncSession) -> contextlib.AbstractAsyncContextManager[object]:
        """On SQLite (one writer), this worker's concurrent jobs commit one at a time.

        Their write transactions would otherwise collide on the database lock, each on its own pooled
        connection, and back off in SQLite's busy handler (sleeps of 1, 2, 5, 10... ms) while holding a
        concurrency slot. Other databases commit concurrently.
        """
        bind = session.bind
        if bind is None or bind.dialect.name != "sqlite":
            return contextlib.nullcontext()
        return self._commit_lock

    def _retry_at(
        self, handler: JobHandler, attempts: int, give_up_at: datetime | None, exc: Exception
    ) -> datetime | None:
        if isinstance(exc, PermanentJobError):
            return None
        retry = exc if isinstance(exc, RetryLater) else None
        return next_attempt(
            attempts,
            self.clock(),
            give_up_at,
            backoff=handler.backoff,
            retry_after=retry.retry_after if retry else None,
            status=retry.status if retry else None,
            max_attempts=handler.max_attempts,
        )

    def _record_failure(self, handler: JobHandler, job: Any, exc: Exception) -> None:
        error = _describe(exc)
        extra = {"queue": handler.name, "job": job.id, "attempt": job.attempts, "error": error}
        if isinstance(exc, PermanentJobError):
            log.warning("job failed permanently", extra=extra)
            queue.give_up(job, error)
            return
        when = self._retry_at(handler, job.attempts, handler.give_up_at(job), exc)
        # An unexpected exception is a bug or an outage: keep its traceback in the log.
        log.warning("job attempt failed", exc_info=not isinstance(exc, RetryLater), extra=extra)
        if when is None:
            queue.give_up(job, error)
        else:
            queue.reschedule(job, when, error)

    async def run(self, stop: asyncio.Event) -> None:
        """Process jobs until ``stop`` is set; a failed pass is logged and retried with backoff."""
        log.info("worker started", extra={"queues": [h.name for h in self.handlers]})
        self._stop = stop
        failures = 0
        while not stop.is_set():
            # Cleared before the pass, not after: a wake-up that comes while a pass runs (a job enqueued
            # after its claim) starts the next pass at once instead of being lost until the next poll.
            woken = self._wake.is_set()
            self._wake.clear()
            started = time.monotonic()
            try:
                processed = await self._pass(self._due_for_claim(woken))
            except Exception:
                failures += 1
                delay = min(self.poll_interval * 2**failures, MAX_PASS_BACKOFF_SECONDS)
                log.error("worker pass failed; retrying", extra={"in_seconds": delay})
                await self._idle(stop, delay, wakeable=False)
                continue
            failures = 0
            if self.gives_way and (self._serving or self._enqueued_at() > started - GIVE_WAY_QUIET_SECONDS):
                await self._give_way(stop)
            elif not processed:
                await self._idle(stop, self.poll_interval)
        log.info("worker stopped")

    async def give_way_if_busy(self) -> None:
        """Between two transactions of a pass: a giving-way worker waits while jobs are being enqueued (a
        transaction's every await waits behind the requests, and it holds SQLite's one writer meanwhile)."""
        if self.gives_way and self._busy():
            await self._give_way(self._stop)

    async def _give_way(self, stop: asyncio.Event) -> None:
        """Wait until no request is being served and none ended for GIVE_WAY_QUIET_SECONDS, or
        MAX_GIVE_WAY_SECONDS have passed."""
        deadline = time.monotonic() + MAX_GIVE_WAY_SECONDS
        while not stop.is_set() and self._busy():
            now = time.monotonic()
            if now >= deadline:
                return
            quiet_at = self._enqueued_at() + GIVE_WAY_QUIET_SECONDS
            await self._idle(stop, min(max(quiet_at - now, GIVE_WAY_QUIET_SECONDS / 5), deadline - now), wakeable=False)

    async def _idle(self, stop: asyncio.Event, seconds: float, *, wakeable: bool = True) -> None:
        """Wait until ``stop``, a wake-up (if ``wakeable``) or ``seconds``, whichever comes first."""
        waits = {asyncio.ensure_future(stop.wait())}
        if wakeable:
            waits.add(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()


@functools.cache
def _rows_by_id(model: Any) -> Select[Any]:
    """A queue's rows whose ids are the parameter ``ids``: built once, loaded every pass."""
    return select(model).where(model.id.in_(bindparam("ids", expanding=True)))


def _describe(exc: BaseException) -> str:
    error = f"{type(exc).__name__}: {exc}"
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"
