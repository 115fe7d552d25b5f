"""Enqueueing wakes the GPU worker (issue 13): with a 30 s poll, a submitted job starts within a second,
on SQLite (a datagram to the worker's abstract socket) and on PostgreSQL (NOTIFY/LISTEN).

The workers run as ``fediserver gpu-worker`` runs them, beside each other on one doorbell, on an engine
of their own; jobs are enqueued through a second engine, as the web process does. No model is loaded:
a job starts when it is claimed, which is what is timed (its render then fails, which is recorded).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver import accounts, migrate
from fediserver.assist import jobs as assist_jobs
from fediserver.assist.worker import AssistWorker
from fediserver.config import Settings
from fediserver.db import make_engine, session_factory
from fediserver.federation.context import Federation
from fediserver.imagegen import jobs as generation_jobs
from fediserver.imagegen.worker import GenerationWorker
from fediserver.jobs import doorbell
from fediserver.media import LocalMediaStore
from fediserver.models import AssistJob, GenerationJob, LocalActor
from fediserver.urls import Urls
from generation.assist import AssistRequest
from generation.backend import WritingEngine
from generation.renderer import Renderer
from generation.types import GenerationRequest

POLL = 30.0
WITHIN = 1.0


@dataclass
class Queues:
    settings: Settings
    web: async_sessionmaker[AsyncSession]
    worker_engine: AsyncEngine
    worker_sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def queues(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Queues]:
    settings = make_settings(database={"url": database_url}, generation={"model": "tiny"})
    web_engine = make_engine(settings.database_url)
    await migrate.upgrade(web_engine)
    web = session_factory(web_engine)
    async with web() as session:
        await accounts.create_user(session, "alice", "alice-password")
        await session.commit()
    worker_engine = make_engine(settings.database_url)
    yield Queues(settings, web, worker_engine, session_factory(worker_engine))
    await worker_engine.dispose()
    await web_engine.dispose()


def _no_renderer(model: str) -> Renderer:
    raise RuntimeError(f"no weights for {model} in this test")


def _no_writer() -> WritingEngine:
    raise RuntimeError("no writing model in this test")


def _request(prompt: str) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, seed=1, model="tiny", steps=1, guidance=0.0, width=64, height=64)


async def _enqueue(q: Queues, kind: str) -> int:
    async with q.web() as session:
        alice = await session.scalar(select(LocalActor).where(LocalActor.username == "alice"))
        assert alice is not None
        if kind == "generation":
            request = _request("a lighthouse")
            job_id = (await generation_jobs.enqueue(session, alice, request, quota=None)).id
        else:
            request_text = AssistRequest(kind="rewrite", text="make this shorter please")
            job_id = (await assist_jobs.enqueue(session, q.settings, alice, request_text)).id
        await session.commit()
    return job_id


async def _started(q: Queues, kind: str, job_id: int, within: float) -> float | None:
    """Seconds until the job was claimed, or None if it was not within ``within``."""
    model: Any = GenerationJob if kind == "generation" else AssistJob
    began = time.monotonic()
    while time.monotonic() - began < within:
        async with q.web() as session:
            started = await session.scalar(select(model.started_at).where(model.id == job_id))
        if started is not None:
            return time.monotonic() - began
        await asyncio.sleep(0.02)
    return None


async def _run_workers(q: Queues, bell: doorbell.Doorbell | None, stop: asyncio.Event) -> asyncio.Future[Any]:
    http = httpx.AsyncClient()
    fed = Federation(settings=q.settings, urls=Urls.from_settings(q.settings), http=http)
    gen = GenerationWorker(
        fed, q.worker_sessions, LocalMediaStore(q.settings.media_dir), _no_renderer, poll_interval=POLL,
        wake=bell.event(doorbell.GENERATION) if bell else None,
    )  # fmt: skip
    assist = AssistWorker(
        q.worker_sessions, _no_writer, ThreadPoolExecutor(max_workers=1), poll_interval=POLL,
        wake=bell.event(doorbell.ASSIST) if bell else None,
    )  # fmt: skip

    async def both() -> None:
        try:
            await asyncio.gather(gen.run(stop), assist.run(stop))
        finally:
            await http.aclose()

    running = asyncio.ensure_future(both())
    # Both loops have looked once, found nothing and are in their 30 s wait before anything is enqueued.
    await asyncio.sleep(0.5)
    return running


@pytest.mark.parametrize("kind", ["generation", "assist"])
async def test_enqueue__wakes_the_gpu_worker_within_a_second(queues: Queues, kind: str) -> None:
    bell = await doorbell.Doorbell.open(queues.worker_engine, [doorbell.GENERATION, doorbell.ASSIST])
    stop = asyncio.Event()
    running = await _run_workers(queues, bell, stop)
    try:
        for _ in range(2):  # the second job proves the first wake-up left the bell working
            job_id = await _enqueue(queues, kind)
            took = await _started(queues, kind, job_id, WITHIN)
            assert took is not None, f"a {kind} job did not start within {WITHIN} s of enqueueing ({POLL} s poll)"
    finally:
        stop.set()
        await running
        await bell.close()


async def test_enqueue__without_a_doorbell_waits_for_the_poll(queues: Queues) -> None:
    # The twin: the same workers without the doorbell leave the job queued, so the test above can fail.
    stop = asyncio.Event()
    running = await _run_workers(queues, None, stop)
    try:
        job_id = await _enqueue(queues, "generation")
        assert await _started(queues, "generation", job_id, WITHIN * 1.5) is None
    finally:
        stop.set()
        await running


async def test_ring__a_rolled_back_job_rings_nothing(queues: Queues) -> None:
    bell = await doorbell.Doorbell.open(queues.worker_engine, [doorbell.GENERATION])
    try:
        async with queues.web() as session:
            alice = await session.scalar(select(LocalActor).where(LocalActor.username == "alice"))
            assert alice is not None
            request = _request("never")
            await generation_jobs.enqueue(session, alice, request, quota=None)
            await session.rollback()
        await asyncio.sleep(0.3)
        assert not bell.event(doorbell.GENERATION).is_set()
        await _enqueue(queues, "generation")
        await asyncio.wait_for(bell.event(doorbell.GENERATION).wait(), WITHIN)
    finally:
        await bell.close()
