"""The GPU worker: one process that owns the pipeline and drains the generation queue.

It claims the oldest due job plus compatible ones (same model, size, steps, guidance, scheduler) up
to ``generation.max_batch``, renders them on a single worker thread so the event loop stays free,
stores per-step progress, honours cancellation between steps, and turns results into media and posts.
While a process pool encodes and signs one batch, the next one renders; outcomes are stored in the
order the jobs were claimed. A job whose worker died is claimed again once its short lease lapses, at
most ``generation.max_attempts`` times. Nothing a job does ends the loop: a job that cannot be
decoded, whose post would be refused, or whose result cannot be stored fails alone, with the reason,
and leaves no files behind (issue 8).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.federation.context import Federation
from fediserver.imagegen import jobs, results
from fediserver.imagegen.engines import RendererFactory
from fediserver.jobs import doorbell, queue
from fediserver.media import LocalMediaStore
from fediserver.models import GenerationJob, LocalActor, MediaAttachment, utcnow
from generation.errors import GenerationCancelled, GenerationError, GenerationFailed
from generation.renderer import DrawnOutcome, Outcome
from generation.types import GenerationRequest

if TYPE_CHECKING:
    from generation.finishing import Finisher

log = logging.getLogger("fediserver.gpu")
LEASE = timedelta(seconds=60)
HEARTBEAT = 0.25
# Batches rendered but not yet stored; bounds the images held in memory when encoding falls behind.
MAX_BATCHES_FINISHING = 2
Admitted = tuple[GenerationJob, GenerationRequest]


class GenerationWorker:
    def __init__(
        self,
        fed: Federation,
        sessions: async_sessionmaker[AsyncSession],
        store: LocalMediaStore,
        renderer_for: RendererFactory,
        *,
        max_batch: int = 4,
        poll_interval: float = 1.0,
        max_attempts: int = 3,
        finisher: Finisher | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        """``finisher`` encodes and signs images (a process pool); ``None`` uses the renderer's own
        :meth:`~generation.renderer.Renderer.finish` on a second thread of this process. ``wake`` (the
        doorbell's generation event) ends an idle wait as soon as a job is enqueued."""
        self.fed = fed
        self.sessions = sessions
        self.store = store
        self.renderer_for = renderer_for
        self.max_batch = max_batch
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.finisher = finisher
        self.wake = wake
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpu")
        self._finish_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="finish")
        self._progress: dict[int, tuple[int, int]] = {}
        self._cancelled: set[int] = set()
        self._lock = threading.Lock()

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The single render thread; other GPU work in this process (writing help) runs on it too."""
        return self._thread

    async def claim_batch(self) -> list[GenerationJob]:
        now = self.fed.clock()
        async with self.sessions() as session:
            first = await queue.claim(session, GenerationJob, now, LEASE, 1)
            if not first:
                return []
            lead = first[0]
            same = (
                GenerationJob.model == lead.model,
                GenerationJob.width == lead.width,
                GenerationJob.height == lead.height,
                GenerationJob.steps == lead.steps,
                GenerationJob.guidance == lead.guidance,
                GenerationJob.scheduler.is_(None)
                if lead.scheduler is None
                else GenerationJob.scheduler == lead.scheduler,
            )
            rest = await queue.claim(session, GenerationJob, now, LEASE, self.max_batch - 1, where=same)
            batch = [lead, *rest]
            await session.execute(
                update(GenerationJob).where(GenerationJob.id.in_([j.id for j in batch])).values(started_at=utcnow())
            )
            await session.commit()
            return batch

    def _on_progress(self, ids: Sequence[int]) -> Callable[[int, int, int], None]:
        def progress(index: int, step: int, total: int) -> None:
            with self._lock:
                self._progress[ids[index]] = (step, total)

        return progress

    async def _heartbeat(self, ids: list[int], done: asyncio.Event) -> None:
        """Store progress, extend the lease, and pick up cancellations while the batch renders."""
        while not done.is_set():
            with self._lock:
                progress = dict(self._progress)
            async with self.sessions() as session:
                for job_id, (step, total) in progress.items():
                    await session.execute(
                        update(GenerationJob)
                        .where(GenerationJob.id == job_id)
                        .values(progress_step=step, progress_total=total, locked_until=self.fed.clock() + LEASE)
                    )
                cancelled = await session.scalars(
                    select(GenerationJob.id).where(GenerationJob.id.in_(ids), GenerationJob.cancel_requested.is_(True))
                )
                found = set(cancelled)
                await session.commit()
            with self._lock:
                self._cancelled |= found
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), HEARTBEAT)

    def _admit(
        self, batch: list[GenerationJob]
    ) -> tuple[list[tuple[GenerationJob, GenerationRequest]], dict[int, str]]:
        """Split a claimed batch into renderable jobs and refusals (job id -> reason), checked before rendering."""
        ready: list[Admitted] = []
        refused: dict[int, str] = {}
        for job in batch:
            try:
                if job.attempts > self.max_attempts:
                    raise GenerationFailed(
                        f"gave up after {self.max_attempts} attempts; the GPU worker stopped while rendering it"
                        + (f" (last error: {job.last_error})" if job.last_error else "")
                    )
                if job.post_visibility is not None:
                    jobs.check_publishable(self.fed.settings, job.post_text, job.post_visibility)
                ready.append((job, jobs.job_request(job)))
            except Exception as exc:
                # A row that cannot become a request or a post fails alone, before any pixel is drawn.
                refused[job.id] = _reason(exc)
        return ready, refused

    async def run_batch(self, batch: list[GenerationJob]) -> None:
        """Render ``batch``, then encode and store every job's result before returning."""
        await (await self.start_batch(batch))

    async def start_batch(
        self, batch: list[GenerationJob], after: asyncio.Task[None] | None = None
    ) -> asyncio.Task[None]:
        """Render ``batch`` now; the returned task encodes its images and stores the outcomes in job order.

        The task waits for ``after`` (the previous batch's) before storing, so results land in the
        order the jobs were claimed, while this worker already renders the next batch.
        """
        ready, refused = self._admit(batch)
        outcomes: dict[int, Outcome | asyncio.Future[Outcome]] = {
            job_id: GenerationFailed(reason) for job_id, reason in refused.items()
        }
        if ready:
            outcomes.update(await self._draw([job for job, _ in ready], [request for _, request in ready]))
        return asyncio.create_task(self._store_in_order(batch, outcomes, after))

    async def _draw(
        self, batch: list[GenerationJob], requests: list[GenerationRequest]
    ) -> dict[int, Outcome | asyncio.Future[Outcome]]:
        ids = [job.id for job in batch]
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(ids, done))
        drawn: list[DrawnOutcome]
        try:
            renderer = await loop.run_in_executor(self._thread, self.renderer_for, batch[0].model)
            drawn = await loop.run_in_executor(
                self._thread,
                lambda: renderer.draw(
                    requests, on_progress=self._on_progress(ids), is_cancelled=lambda i: ids[i] in self._cancelled
                ),
            )
        except GenerationError as exc:
            drawn = [exc for _ in batch]
        except Exception as exc:
            # A model that will not load (missing weights, no hub access) fails these jobs, not the worker.
            log.exception("generation batch failed", extra={"jobs": ids})
            failure = GenerationFailed(_reason(exc))
            drawn = [failure for _ in batch]
        finally:
            done.set()
            await heartbeat
        outcomes: dict[int, Outcome | asyncio.Future[Outcome]] = {}
        for job_id, item in zip(ids, drawn, strict=True):
            if isinstance(item, GenerationError):
                outcomes[job_id] = item
            elif self.finisher is not None:
                outcomes[job_id] = asyncio.wrap_future(self.finisher.submit(item))
            else:
                outcomes[job_id] = asyncio.wrap_future(self._finish_thread.submit(renderer.finish, item))
        return outcomes

    async def _store_in_order(
        self,
        batch: list[GenerationJob],
        outcomes: dict[int, Outcome | asyncio.Future[Outcome]],
        after: asyncio.Task[None] | None,
    ) -> None:
        if after is not None:
            await after
        for job in batch:
            pending = outcomes[job.id]
            outcome: Outcome
            if isinstance(pending, asyncio.Future):
                try:
                    outcome = await pending
                except Exception as exc:
                    # The encoding process died or raised: this job fails, the others stand.
                    log.exception("finishing a generated image failed", extra={"job": job.id})
                    outcome = GenerationFailed(f"image rendered but could not be encoded: {_reason(exc)}")
            else:
                outcome = pending
            await self._record(job.id, outcome)
        with self._lock:
            for job in batch:
                self._progress.pop(job.id, None)
                self._cancelled.discard(job.id)

    async def _record(self, job_id: int, outcome: Outcome) -> None:
        """Store ``outcome``; anything that goes wrong doing so fails this job with the reason, nothing else."""
        written: list[str] = []
        try:
            await self._store_outcome(job_id, outcome, written)
        except Exception as exc:
            log.exception("storing a generation result failed", extra={"job": job_id})
            try:
                await self._fail(job_id, _reason(exc), written)
            except Exception:
                # The database itself is failing: the lease lapses, the job is claimed again, and
                # max_attempts ends it if this keeps happening.
                log.exception("could not mark a generation job failed", extra={"job": job_id})

    async def _store_outcome(self, job_id: int, outcome: Outcome, written: list[str]) -> None:
        async with self.sessions() as session:
            job = await session.get(GenerationJob, job_id)
            if job is None:
                return
            job.locked_until = None
            job.finished_at = utcnow()
            if isinstance(outcome, GenerationCancelled):
                job.state, job.last_error = "cancelled", str(outcome)
            elif isinstance(outcome, GenerationError):
                # A failed render (out of memory included) fails this job only; the worker goes on.
                job.state, job.last_error = "failed", f"{type(outcome).__name__}: {outcome}"
                log.warning("generation failed", extra={"job": job.id, "error": job.last_error})
            else:
                actor = await session.get(LocalActor, job.local_actor_id)
                if actor is None:
                    raise LookupError(f"local actor {job.local_actor_id} no longer exists")
                media = await results.store_files(self.store, actor, job, outcome)
                written.extend(k for k in (media.storage_key, media.original_key, media.thumbnail_key) if k)
                if job.purpose != "post":
                    await results.use_for_profile(self.fed, session, actor, job, media)
                elif job.post_visibility is not None:
                    await results.publish(self.fed, session, self.store, actor, job, media)
                else:
                    session.add(media)
                job.state = "done"
                job.progress_step = job.progress_total = outcome.request.steps or job.steps
            await session.commit()

    async def _fail(self, job_id: int, reason: str, written: list[str]) -> None:
        """Mark the job failed and remove the files it wrote that no stored media refers to."""
        async with self.sessions() as session:
            await session.execute(
                update(GenerationJob)
                .where(GenerationJob.id == job_id)
                .values(state="failed", last_error=reason, locked_until=None, finished_at=utcnow())
            )
            # Keys are content hashes: an identical image stored by another job keeps its file.
            kept = set()
            for column in (MediaAttachment.storage_key, MediaAttachment.original_key, MediaAttachment.thumbnail_key):
                kept |= set(await session.scalars(select(column).where(column.in_(written))))
            await session.commit()
        for key in written:
            if key not in kept:
                self.store.path(key).unlink(missing_ok=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and render until ``stop``; each batch's encoding overlaps the next batch's render.

        Idle, it looks again after ``poll_interval`` or as soon as ``wake`` is set (``jobs.doorbell``).
        Nothing a job does ends this loop: a claim that raises is logged and retried after
        ``poll_interval``; a job that fails anywhere is marked failed with the reason.
        """
        log.info("gpu worker started", extra={"max_batch": self.max_batch})
        storing: deque[asyncio.Task[None]] = deque()
        try:
            while not stop.is_set():
                if self.wake is not None:
                    self.wake.clear()
                try:
                    batch = await self.claim_batch()
                except Exception:
                    log.exception("claiming generation jobs failed")
                    batch = []
                if batch:
                    storing.append(await self._start_safely(batch, storing[-1] if storing else None))
                    while storing and (storing[0].done() or len(storing) > MAX_BATCHES_FINISHING):
                        await storing.popleft()
                    continue
                await doorbell.idle(stop, self.wake, self.poll_interval)
        finally:
            for task in storing:
                await task
            self._thread.shutdown(wait=True)
            self._finish_thread.shutdown(wait=True)
        log.info("gpu worker stopped")

    async def _start_safely(self, batch: list[GenerationJob], after: asyncio.Task[None] | None) -> asyncio.Task[None]:
        try:
            return await self.start_batch(batch, after)
        except Exception as exc:
            log.exception("generation batch failed", extra={"jobs": [job.id for job in batch]})
            reason = _reason(exc)
            return asyncio.create_task(
                self._store_in_order(batch, {job.id: GenerationFailed(reason) for job in batch}, after)
            )


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
