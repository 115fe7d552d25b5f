"""The GPU worker: one process that owns the pipeline and drains the generation queue.

It claims the oldest due job plus compatible ones (same model, size, steps, guidance, scheduler) up
to ``generation.max_batch``, renders them on a single worker thread so the event loop stays free,
stores per-step progress, honours cancellation between steps, and turns results into media and posts.
A job whose worker died is claimed again once its short lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.federation.context import Federation
from fediserver.imagegen import jobs, results
from fediserver.jobs import queue
from fediserver.media import LocalMediaStore
from fediserver.models import GenerationJob, LocalActor, utcnow
from generation.errors import GenerationCancelled, GenerationError, GenerationFailed
from generation.renderer import Outcome, Renderer

log = logging.getLogger("fediserver.gpu")
LEASE = timedelta(seconds=60)
HEARTBEAT = 0.25
RendererFactory = Callable[[str], Renderer]


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
    ) -> None:
        self.fed = fed
        self.sessions = sessions
        self.store = store
        self.renderer_for = renderer_for
        self.max_batch = max_batch
        self.poll_interval = poll_interval
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpu")
        self._progress: dict[int, tuple[int, int]] = {}
        self._cancelled: set[int] = set()
        self._lock = threading.Lock()

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

    async def run_batch(self, batch: list[GenerationJob]) -> None:
        ids = [job.id for job in batch]
        requests = [jobs.job_request(job) for job in batch]
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(ids, done))
        try:
            renderer = await loop.run_in_executor(self._thread, self.renderer_for, batch[0].model)
            outcomes: list[Outcome] = await loop.run_in_executor(
                self._thread,
                lambda: renderer.render(
                    requests, on_progress=self._on_progress(ids), is_cancelled=lambda i: ids[i] in self._cancelled
                ),
            )
        except GenerationError as exc:
            outcomes = [exc for _ in batch]
        except Exception as exc:
            # A model that will not load (missing weights, no hub access) fails these jobs, not the worker.
            log.exception("generation batch failed", extra={"jobs": ids})
            failure = GenerationFailed(f"{type(exc).__name__}: {exc}")
            outcomes = [failure for _ in batch]
        finally:
            done.set()
            await heartbeat
        for job, outcome in zip(batch, outcomes, strict=True):
            await self._record(job.id, outcome)
        with self._lock:
            for job_id in ids:
                self._progress.pop(job_id, None)
                self._cancelled.discard(job_id)

    async def _record(self, job_id: int, outcome: Outcome) -> None:
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
                assert actor is not None
                media = results.store_files(self.store, actor, job, outcome)
                if job.purpose != "post":
                    await results.use_for_profile(self.fed, session, actor, job, media)
                elif job.post_visibility is not None:
                    await results.publish(self.fed, session, self.store, actor, job, media)
                else:
                    session.add(media)
                job.state = "done"
                job.progress_step = job.progress_total = outcome.request.steps or job.steps
            await session.commit()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("gpu worker started", extra={"max_batch": self.max_batch})
        try:
            while not stop.is_set():
                batch = await self.claim_batch()
                if batch:
                    await self.run_batch(batch)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
        finally:
            self._thread.shutdown(wait=True)
        log.info("gpu worker stopped")


def renderer_factory(settings: Any) -> RendererFactory:
    """Load engines on demand, one model at a time; torch is imported here, in the GPU worker only."""
    from generation.backend import load_engine
    from generation.provenance import ContentSigner, InstanceCertificates, create_instance_certificates

    signer: ContentSigner | None = None
    if settings.generation.c2pa:
        directory = settings.certificates_dir
        try:
            certificates = InstanceCertificates.load(directory)
        except FileNotFoundError:
            certificates = create_instance_certificates(settings.instance.domain)
            certificates.save(directory)
        signer = ContentSigner(certificates)
    current: dict[str, Renderer] = {}

    def renderer_for(model: str) -> Renderer:
        if model not in current:
            current.clear()
            engine = load_engine(
                model,
                cache_dir=settings.model_cache_dir,
                device=settings.generation.device,
                dtype=settings.generation.dtype,
                compile=settings.generation.compile,
            )
            current[model] = Renderer(engine, signer, max_batch=settings.generation.max_batch)
        return current[model]

    return renderer_for
