"""The writing-help worker: runs in the GPU worker process and drains ``assist_jobs``.

Jobs are short and interactive, so the GPU worker runs this loop beside the image queue and on the same
single render thread (docs/assist.md §5: only one thread touches the accelerator). While a job writes, a
heartbeat stores the text written so far (what the SSE stream reads), extends the lease and picks up
cancellation. A job that fails for good is marked failed with the reason; the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.assist.jobs import job_request
from fediserver.config import Settings
from fediserver.jobs import doorbell, queue
from fediserver.jobs.worker import Clock, system_clock
from fediserver.models import AssistJob, utcnow
from generation.assist import AssistResult
from generation.backend import WritingEngine
from generation.errors import GenerationCancelled, GenerationError, InvalidRequest

log = logging.getLogger("fediserver.assist")
LEASE = timedelta(seconds=60)
FLUSH = 0.05
EngineFactory = Callable[[], WritingEngine]


class _Progress:
    """Text written so far and the cancel flag, shared between the render thread and the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pieces: list[str] = []
        self.cancelled = False

    def add(self, piece: str) -> None:
        with self._lock:
            self._pieces.append(piece)

    def text(self) -> tuple[str, int]:
        with self._lock:
            return "".join(self._pieces), len(self._pieces)


class AssistWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        engine_for: EngineFactory,
        executor: Executor,
        *,
        poll_interval: float = 1.0,
        max_attempts: int = 3,
        clock: Clock = system_clock,
        wake: asyncio.Event | None = None,
    ) -> None:
        """``wake`` (the doorbell's assist event) ends an idle wait as soon as a job is enqueued."""
        self.sessions = sessions
        self.engine_for = engine_for
        self.executor = executor
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.clock = clock
        self._engine: WritingEngine | None = None
        self.wake = wake

    async def claim(self) -> AssistJob | None:
        async with self.sessions() as session:
            claimed = await queue.claim(session, AssistJob, self.clock(), LEASE, 1)
            if not claimed:
                return None
            job = claimed[0]
            await session.execute(update(AssistJob).where(AssistJob.id == job.id).values(started_at=utcnow()))
            await session.commit()
            return job

    async def _heartbeat(self, job_id: int, progress: _Progress, done: asyncio.Event, beat: asyncio.Event) -> None:
        """Store the text so far and renew the lease every ``FLUSH`` seconds, and pick up a cancel request;
        ``beat`` is set after the first pass."""
        written = -1
        while True:
            text, pieces = progress.text()
            async with self.sessions() as session:
                values: dict[str, object] = {"locked_until": self.clock() + LEASE}
                if pieces != written:
                    values.update(output=text, tokens=pieces)
                    written = pieces
                await session.execute(update(AssistJob).where(AssistJob.id == job_id).values(**values))
                cancel = await session.scalar(select(AssistJob.cancel_requested).where(AssistJob.id == job_id))
                await session.commit()
            progress.cancelled = progress.cancelled or bool(cancel)
            beat.set()
            if done.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FLUSH)

    def _engine_now(self) -> WritingEngine:
        if self._engine is None:
            self._engine = self.engine_for()
        return self._engine

    async def run_job(self, job: AssistJob) -> None:
        if job.attempts > self.max_attempts:
            # Claimed again after its worker died this many times: the job itself is the likely cause.
            await self._finish(job.id, "failed", error=f"gave up after {job.attempts - 1} attempts")
            return
        progress = _Progress()
        done = asyncio.Event()
        beat = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(job.id, progress, done, beat))
        # A cancel asked for since the claim is seen before the first token, not raced by a fast model
        # (a heartbeat that fails instead raises below, when it is awaited).
        first = asyncio.ensure_future(beat.wait())
        await asyncio.wait({heartbeat, first}, return_when=asyncio.FIRST_COMPLETED)
        first.cancel()
        loop = asyncio.get_running_loop()
        request = job_request(job)
        outcome: AssistResult | Exception
        try:
            outcome = await loop.run_in_executor(
                self.executor,
                lambda: self._engine_now().run(
                    request, on_token=progress.add, should_cancel=lambda: progress.cancelled
                ),
            )
        except (GenerationError, InvalidRequest) as exc:
            outcome = exc
        except Exception as exc:
            # A model that will not load fails this job, not the worker.
            log.exception("assist job failed", extra={"job": job.id})
            outcome = exc
        finally:
            done.set()
            await heartbeat
        if isinstance(outcome, GenerationCancelled):
            await self._finish(job.id, "cancelled", error=str(outcome))
        elif isinstance(outcome, Exception):
            await self._finish(job.id, "failed", error=f"{type(outcome).__name__}: {outcome}")
        else:
            await self._finish(job.id, "done", result=outcome)

    async def _finish(
        self, job_id: int, state: str, *, error: str | None = None, result: AssistResult | None = None
    ) -> None:
        async with self.sessions() as session:
            job = await session.get(AssistJob, job_id)
            if job is None:
                return
            queue.finish(job, state)
            job.finished_at = utcnow()
            job.last_error = error
            job.image = None
            if result is not None:
                job.output, job.tokens, job.notice = result.text, result.tokens, result.notice
            await session.commit()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("assist worker started")
        while not stop.is_set():
            if self.wake is not None:
                self.wake.clear()
            try:
                job = await self.claim()
                if job is not None:
                    await self.run_job(job)
                    continue
            except Exception:
                # A row that cannot even be claimed or read must not end writing help for everyone.
                log.exception("assist worker loop error")
            await doorbell.idle(stop, self.wake, self.poll_interval)
        log.info("assist worker stopped")


def engine_factory(settings: Settings) -> EngineFactory:
    """Build the writing engine on first use; torch and transformers are imported only then."""

    def build() -> WritingEngine:
        from generation.backend import load_assist_engine

        return load_assist_engine(
            text_model=settings.assist.text_model,
            caption_model=settings.assist.caption_model,
            cache_dir=settings.model_cache_dir,
            device=settings.generation.device,
            dtype=settings.generation.dtype,
            budget_bytes=settings.assist.memory_budget_mb * 1024 * 1024,
        )

    return build
