"""The worker loop: claim due jobs from each registered queue, run their handler, record the outcome.

A handler returns normally (the job is done), raises ``PermanentJobError`` (the job fails for good) or
raises anything else (the job is retried by the handler's policy until it gives up). Every failure is
logged with its traceback and kept in ``last_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.jobs import queue
from fediserver.jobs.retry import Backoff, next_attempt
from fediserver.models.base import QueueMixin

log = logging.getLogger("fediserver.worker")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class PermanentJobError(Exception):
    """The job cannot succeed by retrying (e.g. the target answered 410 Gone)."""


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
        """How many of a claimed batch run at once."""
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
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _commit_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def wake(self) -> None:
        """Look for jobs now instead of at the next poll (called after enqueueing)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim and process one batch from each queue; returns how many jobs were processed."""
        processed = 0
        for handler in self.handlers:
            async with self.sessions() as session:
                jobs = await queue.claim(session, handler.model, self.clock(), self.lease, handler.batch_size)
            if handler.concurrency <= 1:
                for job in jobs:
                    await self._process(handler, job)
            else:
                await self._process_concurrently(handler, jobs)
            processed += len(jobs)
        return processed

    async def _process_concurrently(self, handler: JobHandler, jobs: Sequence[Any]) -> None:
        limit = asyncio.Semaphore(handler.concurrency)

        async def bounded(job: Any) -> None:
            async with limit:
                await self._process(handler, job)

        await asyncio.gather(*(bounded(job) for job in jobs))

    async def _process(self, handler: JobHandler, claimed: Any) -> None:
        async with self.sessions() as session:
            # The claimed row is clean (committed by ``claim``) and leased to us: no need to load it again.
            job = await session.merge(claimed, load=False)
            try:
                await handler.handle(session, job)
            except asyncio.CancelledError:
                # Shutting down: the lease expires and another worker (or this one restarted) retries.
                raise
            except Exception as exc:
                await session.rollback()
                await session.refresh(job)
                self._record_failure(handler, job, exc)
            else:
                if job.state == "running":
                    queue.finish(job)
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

    def _record_failure(self, handler: JobHandler, job: Any, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        extra = {"queue": handler.name, "job": job.id, "attempt": job.attempts, "error": error}
        if isinstance(exc, PermanentJobError):
            log.warning("job failed permanently", extra=extra)
            queue.give_up(job, error)
            return
        retry = exc if isinstance(exc, RetryLater) else None
        when = next_attempt(
            job.attempts,
            self.clock(),
            handler.give_up_at(job),
            backoff=handler.backoff,
            retry_after=retry.retry_after if retry else None,
            status=retry.status if retry else None,
        )
        # An unexpected exception is a bug or an outage: keep its traceback in the log.
        log.warning("job attempt failed", exc_info=retry is None, extra=extra)
        if when is None:
            queue.give_up(job, error)
        else:
            queue.reschedule(job, when, error)

    async def run(self, stop: asyncio.Event) -> None:
        """Process jobs until ``stop`` is set."""
        log.info("worker started", extra={"queues": [h.name for h in self.handlers]})
        while not stop.is_set():
            processed = await self.run_once()
            if processed:
                continue
            self._wake.clear()
            stop_wait = asyncio.ensure_future(stop.wait())
            wake_wait = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait(
                    {stop_wait, wake_wait}, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                stop_wait.cancel()
                wake_wait.cancel()
        log.info("worker stopped")
