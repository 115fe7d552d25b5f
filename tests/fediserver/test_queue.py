"""Durable queues: claiming with a lease, expiry, retry scheduling and the worker loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver import accounts, migrate
from fediserver.db import make_engine, session_factory
from fediserver.jobs import queue
from fediserver.jobs.retry import Backoff
from fediserver.jobs.worker import PermanentJobError, RetryLater, Worker
from fediserver.models import DeliveryJob

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


@pytest.fixture
async def queue_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


async def _add_jobs(sessions: async_sessionmaker[AsyncSession], count: int, due: datetime = T0) -> list[int]:
    async with sessions() as session:
        actor = await accounts.ensure_instance_actor(session)
        jobs = [
            DeliveryJob(
                activity_id=f"https://a.example/activities/{i}",
                inbox_url=f"https://h{i}.example/inbox",
                host=f"h{i}.example",
                signer_actor_id=actor.id,
                body="{}",
                state="queued",
                next_attempt_at=due,
                give_up_at=due + timedelta(days=2),
            )
            for i in range(count)
        ]
        session.add_all(jobs)
        await session.commit()
        return [job.id for job in jobs]


async def _job(sessions: async_sessionmaker[AsyncSession], job_id: int) -> DeliveryJob:
    async with sessions() as session:
        job = await session.get(DeliveryJob, job_id)
        assert job is not None
        return job


async def test_claim__leases_due_jobs_once(queue_engine: AsyncEngine) -> None:
    sessions = session_factory(queue_engine)
    ids = await _add_jobs(sessions, 3)
    async with sessions() as session:
        first = await queue.claim(session, DeliveryJob, T0, LEASE, limit=2)
    async with sessions() as session:
        second = await queue.claim(session, DeliveryJob, T0, LEASE, limit=2)
    async with sessions() as session:
        third = await queue.claim(session, DeliveryJob, T0, LEASE, limit=2)
    assert sorted(j.id for j in [*first, *second]) == ids
    assert third == []
    job = await _job(sessions, ids[0])
    assert (job.state, job.attempts, job.locked_until) == ("running", 1, T0 + LEASE)


async def test_claim__skips_jobs_not_yet_due(queue_engine: AsyncEngine) -> None:
    sessions = session_factory(queue_engine)
    await _add_jobs(sessions, 1, due=T0 + timedelta(minutes=1))
    async with sessions() as session:
        assert await queue.claim(session, DeliveryJob, T0, LEASE) == []
    async with sessions() as session:
        assert len(await queue.claim(session, DeliveryJob, T0 + timedelta(minutes=1), LEASE)) == 1


async def test_claim__takes_back_a_job_whose_lease_expired(queue_engine: AsyncEngine) -> None:
    # Given a job claimed by a worker that then died
    sessions = session_factory(queue_engine)
    [job_id] = await _add_jobs(sessions, 1)
    async with sessions() as session:
        await queue.claim(session, DeliveryJob, T0, LEASE)
    # When another worker looks before and after the lease ends
    async with sessions() as session:
        before = await queue.claim(session, DeliveryJob, T0 + LEASE - timedelta(seconds=1), LEASE)
    async with sessions() as session:
        after = await queue.claim(session, DeliveryJob, T0 + LEASE + timedelta(seconds=1), LEASE)
    # Then it gets the job only after, as a second attempt
    assert before == []
    assert [j.id for j in after] == [job_id]
    assert (await _job(sessions, job_id)).attempts == 2


async def test_claim__concurrent_claimers_never_share_a_job(queue_engine: AsyncEngine) -> None:
    sessions = session_factory(queue_engine)
    ids = await _add_jobs(sessions, 40)

    async def claimer() -> list[int]:
        got: list[int] = []
        while True:
            async with sessions() as session:
                jobs = await queue.claim(session, DeliveryJob, T0, LEASE, limit=3)
            if not jobs:
                return got
            got.extend(j.id for j in jobs)

    results = await asyncio.gather(*(claimer() for _ in range(4)))
    claimed = [job_id for result in results for job_id in result]
    assert sorted(claimed) == ids


class _Handler:
    name = "test"
    model = DeliveryJob
    backoff = Backoff(initial=timedelta(seconds=10), factor=2, cap=timedelta(hours=1))
    batch_size = 10
    concurrency = 1
    max_attempts = 25

    def __init__(self, outcome: Exception | None) -> None:
        self.outcome = outcome
        self.seen: list[int] = []

    def give_up_at(self, job: Any) -> datetime | None:
        assert isinstance(job, DeliveryJob)
        return job.give_up_at

    async def handle(self, session: AsyncSession, job: Any) -> None:
        self.seen.append(job.id)
        job.last_status = 202
        if self.outcome is not None:
            raise self.outcome


async def test_worker__marks_success_done(queue_engine: AsyncEngine) -> None:
    sessions = session_factory(queue_engine)
    [job_id] = await _add_jobs(sessions, 1)
    handler = _Handler(None)
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 1
    job = await _job(sessions, job_id)
    assert (job.state, job.locked_until, job.last_status) == ("done", None, 202)


async def test_worker__reschedules_a_failure_and_honours_retry_after(queue_engine: AsyncEngine) -> None:
    sessions = session_factory(queue_engine)
    [job_id] = await _add_jobs(sessions, 1)
    handler = _Handler(RetryLater("503 from inbox", retry_after=timedelta(hours=1), status=503))
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    await worker.run_once()
    job = await _job(sessions, job_id)
    assert job.state == "queued"
    assert job.next_attempt_at == T0 + timedelta(hours=1)
    assert job.last_error == "RetryLater: 503 from inbox"
    assert job.last_status is None, "a failed attempt's changes are rolled back"


async def test_worker__gives_up_on_permanent_errors_and_past_the_horizon(queue_engine: AsyncEngine) -> None:
    sessions = session_factory(queue_engine)
    [gone, late] = await _add_jobs(sessions, 2)
    permanent = Worker(sessions, [_Handler(PermanentJobError("410 Gone"))], lease=LEASE, clock=lambda: T0)
    async with sessions() as session:
        job = await session.get(DeliveryJob, late)
        assert job is not None
        job.next_attempt_at = T0 + timedelta(days=1)
        await session.commit()
    await permanent.run_once()
    assert (await _job(sessions, gone)).state == "failed"
    near_end = T0 + timedelta(days=2) - timedelta(seconds=5)
    transient = Worker(sessions, [_Handler(RuntimeError("connection reset"))], lease=LEASE, clock=lambda: near_end)
    await transient.run_once()
    job = await _job(sessions, late)
    assert job.state == "failed"
    assert job.last_error == "RuntimeError: connection reset"


async def test_worker__run_stops_when_asked(queue_engine: AsyncEngine) -> None:
    sessions = session_factory(queue_engine)
    ids = await _add_jobs(sessions, 2)
    handler = _Handler(None)
    worker = Worker(sessions, [handler], lease=LEASE, poll_interval=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(200):
        if len(handler.seen) == 2:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert sorted(handler.seen) == ids
    async with sessions() as session:
        states = set((await session.scalars(select(DeliveryJob.state))).all())
    assert states == {"done"}
