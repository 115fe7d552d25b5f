"""A running worker claims from a queue it found empty again only after a wake-up or its poll interval, so
that draining one queue does not cost a claim of every other queue each pass."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.db import session_factory
from fediserver.jobs import doorbell, queue
from fediserver.jobs.retry import Backoff
from fediserver.jobs.worker import Worker
from fediserver.models import InboundActivity, LinkCheck, QueueMixin, utcnow

LEASE = timedelta(minutes=5)


class _Recorder:
    """A handler that marks each job done and remembers it."""

    backoff = Backoff(initial=timedelta(seconds=10), factor=2, cap=timedelta(hours=1))
    concurrency = 1
    max_attempts = 3

    def __init__(self, name: str, model: type[QueueMixin], batch_size: int, seconds_a_job: float = 0.0) -> None:
        self.name, self.model, self.batch_size = name, model, batch_size
        self.seconds_a_job = seconds_a_job
        self.doorbell: str | None = None
        self.seen: list[int] = []

    def give_up_at(self, job: Any) -> datetime | None:
        return None

    async def handle(self, session: AsyncSession, job: Any) -> None:
        self.seen.append(job.id)
        await asyncio.sleep(self.seconds_a_job)


async def _queue_inbound(sessions: async_sessionmaker[AsyncSession], count: int) -> None:
    async with sessions() as session:
        await session.execute(
            insert(InboundActivity),
            [
                {
                    "activity_id": f"https://remote.example/activities/{i}",
                    "activity_type": "Create",
                    "actor_uri": f"https://remote.example/users/u{i}",
                    "key_id": f"https://remote.example/users/u{i}#main-key",
                    "body": {},
                    "state": "queued",
                    "next_attempt_at": utcnow() - timedelta(seconds=1),
                }
                for i in range(count)
            ],
        )
        await session.commit()


async def _queue_link_check(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        actor_id = await session.scalar(select(func.min(LinkCheck.local_actor_id)))
        if actor_id is None:
            user = await accounts.create_user(session, "polly", "long enough password")
            actor_id = user.actor_id
        session.add(LinkCheck(local_actor_id=actor_id, state="queued", next_attempt_at=utcnow() - timedelta(seconds=1)))
        await session.commit()


def _counting_claims(monkeypatch: Any) -> Counter[str]:
    claims: Counter[str] = Counter()
    real = queue.claim_ids

    async def counted(session: AsyncSession, model: type[QueueMixin], *args: Any, **kwargs: Any) -> Any:
        claims[model.__table__.name] += 1  # type: ignore[attr-defined]
        return await real(session, model, *args, **kwargs)

    monkeypatch.setattr(queue, "claim_ids", counted)
    return claims


@contextlib.asynccontextmanager
async def _running(worker: Worker) -> AsyncIterator[None]:
    """``worker.run`` for the block's duration."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def _until(condition: Any, within: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_run__a_queue_found_empty_is_not_claimed_again_each_pass(db: AsyncEngine, monkeypatch: Any) -> None:
    sessions = session_factory(db)
    await _queue_inbound(sessions, 10)
    busy, idle = _Recorder("inbox", InboundActivity, 2), _Recorder("links", LinkCheck, 2)
    claims = _counting_claims(monkeypatch)
    worker = Worker(sessions, [busy, idle], lease=LEASE, poll_interval=30.0)
    async with _running(worker):
        await _until(lambda: len(busy.seen) == 10, 10.0)
    # Five passes of two jobs (at least); the other queue only on the first.
    assert claims["inbound_activities"] >= 5
    assert claims["link_checks"] == 1


async def test_run__a_wake_up_claims_from_every_queue_at_once(db: AsyncEngine, monkeypatch: Any) -> None:
    sessions = session_factory(db)
    busy, idle = _Recorder("inbox", InboundActivity, 2), _Recorder("links", LinkCheck, 2)
    claims = _counting_claims(monkeypatch)
    worker = Worker(sessions, [busy, idle], lease=LEASE, poll_interval=30.0)
    async with _running(worker):
        await _until(lambda: claims["link_checks"] == 1, 5.0)
        await _queue_link_check(sessions)
        worker.wake()
        # Far sooner than the 30 s poll.
        await _until(lambda: len(idle.seen) == 1, 5.0)


async def test_run__a_queue_found_empty_is_claimed_again_after_the_poll_interval(
    db: AsyncEngine, monkeypatch: Any
) -> None:
    sessions = session_factory(db)
    await _queue_inbound(sessions, 200)
    busy, idle = _Recorder("inbox", InboundActivity, 1, seconds_a_job=0.02), _Recorder("links", LinkCheck, 2)
    claims = _counting_claims(monkeypatch)
    worker = Worker(sessions, [busy, idle], lease=LEASE, poll_interval=0.3)
    async with _running(worker):
        await _until(lambda: claims["link_checks"] == 1, 5.0)
        # Queued while the worker is busy with the inbox (a job a pass, 4 s of them), and nobody wakes it.
        await _queue_link_check(sessions)
        waited = await _until(lambda: len(idle.seen) == 1, 5.0)
        inbox_done, link_claims = len(busy.seen), claims["link_checks"]
    assert waited < 1.0
    assert inbox_done < 200
    # Not once a pass: about once a poll interval.
    assert link_claims <= 2 + waited / 0.3


async def _ring(sessions: async_sessionmaker[AsyncSession], channel: str) -> None:
    async with sessions() as session:
        await doorbell.ring(session, channel)
        await session.commit()


async def test_run__a_doorbell_wakes_the_queues_of_the_channel_that_rang(db: AsyncEngine, monkeypatch: Any) -> None:
    sessions = session_factory(db)
    bell = await doorbell.Doorbell.open(db, [doorbell.INBOX, doorbell.FEDERATION])
    inbox, links = _Recorder("inbox", InboundActivity, 2), _Recorder("links", LinkCheck, 2)
    inbox.doorbell, links.doorbell = doorbell.INBOX, doorbell.FEDERATION
    claims = _counting_claims(monkeypatch)
    worker = Worker(sessions, [inbox, links], lease=LEASE, poll_interval=30.0, woken_by=bell)
    try:
        async with _running(worker):
            await _until(lambda: claims["link_checks"] == 1, 5.0)
            # The inbox's bell: a pass for the inbox, none for the other queue, found empty and not rung.
            await _queue_inbound(sessions, 1)
            await _ring(sessions, doorbell.INBOX)
            await _until(lambda: len(inbox.seen) == 1, 5.0)
            assert claims["link_checks"] == 1
            # Its own bell: claimed at once, far sooner than the 30 s poll.
            await _queue_link_check(sessions)
            await _ring(sessions, doorbell.FEDERATION)
            await _until(lambda: len(links.seen) == 1, 5.0)
    finally:
        await bell.close()
