"""No worker dies of a row: unreadable rows, failing handlers, failing commits and broken queues each fail
alone and the loop goes on; attempts are capped; the in-process worker is supervised."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import Integer, String, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fediserver.app import AppOptions, create_app
from fediserver.config import Settings
from fediserver.db import session_factory
from fediserver.jobs import queue
from fediserver.jobs.retry import Backoff, next_attempt
from fediserver.jobs.supervision import SupervisedTask
from fediserver.jobs.worker import Worker
from fediserver.models import InboundActivity, QueueMixin, UTCDateTime

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
# Deeper than any stack decodes: json.loads raises RecursionError on it wherever it runs.
POISON_DEPTH = 5000


async def _add(sessions: async_sessionmaker[AsyncSession], name: str, body: str = '{"type": "Create"}') -> int:
    """An inbound row stored as raw JSON text, as an older inbox without a depth limit could have stored it."""
    async with sessions() as session:
        result = await session.execute(
            insert(InboundActivity.__table__)  # type: ignore[arg-type]
            .values(
                activity_id=f"https://remote.example/{name}",
                activity_type="Create",
                actor_uri="https://remote.example/users/x",
                key_id="https://remote.example/users/x#main-key",
                body={},
                state="queued",
                attempts=0,
                next_attempt_at=T0,
                received_at=T0,
            )
            .returning(InboundActivity.__table__.c.id)
        )
        job_id = int(result.scalar_one())
        # The JSON column would re-encode a value; write the stored text itself.
        await session.execute(
            text("UPDATE inbound_activities SET body = :body WHERE id = :id"), {"body": body, "id": job_id}
        )
        await session.commit()
        return job_id


def _poison() -> str:
    return '{"a":' * POISON_DEPTH + "1" + "}" * POISON_DEPTH


async def _row(sessions: async_sessionmaker[AsyncSession], job_id: int) -> tuple[str, int, str | None]:
    table: Any = InboundActivity.__table__
    async with sessions() as session:
        row = (
            await session.execute(
                select(table.c.state, table.c.attempts, table.c.last_error).where(table.c.id == job_id)
            )
        ).one()
    return row.state, row.attempts, row.last_error


class _Handler:
    name = "inbox-test"
    model = InboundActivity
    backoff = Backoff(initial=timedelta(seconds=10), factor=2, cap=timedelta(hours=1))
    batch_size = 10
    concurrency = 1
    max_attempts = 3

    def __init__(self, fail: BaseException | None = None, *, break_commit: bool = False) -> None:
        self.fail = fail
        self.break_commit = break_commit
        self.seen: list[int] = []

    def give_up_at(self, job: Any) -> datetime | None:
        return None

    async def handle(self, session: AsyncSession, job: Any) -> None:
        self.seen.append(job.id)
        if self.fail is not None:
            raise self.fail
        if self.break_commit:
            # Violates the state CHECK constraint only when the worker commits.
            job.state = "exploded"


async def test_unreadable_row__fails_alone_and_the_batch_goes_on(
    db: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = session_factory(db)
    good_before = await _add(sessions, "good-1")
    poisoned = await _add(sessions, "poisoned", _poison())
    good_after = await _add(sessions, "good-2")
    handler = _Handler()
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)

    with caplog.at_level(logging.ERROR, logger="fediserver.worker"):
        assert await worker.run_once() == 3

    assert handler.seen == [good_before, good_after]
    assert (await _row(sessions, good_before))[0] == "done"
    assert (await _row(sessions, good_after))[0] == "done"
    state, attempts, error = await _row(sessions, poisoned)
    assert (state, attempts) == ("failed", 1)
    assert error is not None
    assert error.startswith("RecursionError")
    unreadable = [r for r in caplog.records if r.message == "job row could not be read"]
    assert len(unreadable) == 1
    assert unreadable[0].exc_info is not None, "logged with its traceback"
    # And nothing is left to claim: the poisoned row is not retried
    assert await worker.run_once() == 0


async def test_a_handler_raising_recursion_error__is_recorded_and_retried_by_policy(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    job_id = await _add(sessions, "deep")
    worker = Worker(
        sessions, [_Handler(RecursionError("maximum recursion depth exceeded"))], lease=LEASE, clock=lambda: T0
    )
    await worker.run_once()
    state, attempts, error = await _row(sessions, job_id)
    assert (state, attempts) == ("queued", 1)
    assert error == "RecursionError: maximum recursion depth exceeded"


async def test_a_failing_commit__is_recorded_by_id(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    job_id = await _add(sessions, "bad-commit")
    other = await _add(sessions, "fine")
    handler = _Handler(break_commit=True)
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 2
    state, attempts, error = await _row(sessions, job_id)
    assert (state, attempts) == ("queued", 1)
    assert error is not None
    assert "IntegrityError" in error
    assert (await _row(sessions, other))[0] == "queued", "the same handler broke both; each recorded alone"


async def test_attempts_cap__a_job_failing_every_time_is_failed_after_max_attempts(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    job_id = await _add(sessions, "always-fails")
    now = T0
    worker = Worker(sessions, [_Handler(RuntimeError("bug"))], lease=LEASE, clock=lambda: now)
    states = []
    for _ in range(5):
        await worker.run_once()
        states.append(await _row(sessions, job_id))
        now += timedelta(hours=2)  # past any backoff
    assert [s[:2] for s in states] == [("queued", 1), ("queued", 2), ("failed", 3), ("failed", 3), ("failed", 3)]
    assert states[-1][2] == "RuntimeError: bug"


async def test_attempts_cap__a_job_whose_worker_dies_every_time_is_failed_at_claim(db: AsyncEngine) -> None:
    # Given a job that was claimed max_attempts times, each time by a worker that died mid-job
    sessions = session_factory(db)
    job_id = await _add(sessions, "kills-its-worker")
    now = T0
    for _ in range(3):
        async with sessions() as session:
            assert [c.id for c in await queue.claim_ids(session, InboundActivity, now, LEASE, max_attempts=3)] == [
                job_id
            ]
        now += LEASE + timedelta(seconds=1)
    # When a worker looks once its last lease has lapsed
    async with sessions() as session:
        claimed = await queue.claim_ids(session, InboundActivity, now, LEASE, max_attempts=3)
    # Then it is not claimed a fourth time but failed, with the reason
    assert claimed == []
    state, attempts, error = await _row(sessions, job_id)
    assert (state, attempts) == ("failed", 3)
    assert error == queue.EXHAUSTED


def test_retry_policy__gives_up_at_max_attempts() -> None:
    backoff = Backoff()
    assert next_attempt(4, T0, None, backoff=backoff, max_attempts=5) is not None
    assert next_attempt(5, T0, None, backoff=backoff, max_attempts=5) is None
    assert next_attempt(500, T0, None, backoff=backoff) is not None, "no cap unless given"


class _Unmigrated(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class _Missing(_Unmigrated, QueueMixin):
    """A queue whose table does not exist: every claim from it fails."""

    __tablename__ = "never_created"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(10))


class _BrokenQueue(_Handler):
    name = "broken"
    model = _Missing  # type: ignore[assignment]


async def test_run__a_queue_that_cannot_be_claimed_does_not_stop_the_others(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    ids = [await _add(sessions, f"n{i}") for i in range(3)]
    good = _Handler()
    worker = Worker(sessions, [_BrokenQueue(), good], lease=LEASE, poll_interval=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(300):
        if len(good.seen) == 3:
            break
        await asyncio.sleep(0.01)
    # A later job still gets done: the loop is alive after failing passes over the broken queue
    late = await _add(sessions, "late")
    worker.wake()
    for _ in range(300):
        if late in good.seen:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert good.seen == [*ids, late]


async def test_run__backs_off_while_every_queue_fails(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    broken = _BrokenQueue()
    worker = Worker(sessions, [broken], lease=LEASE, poll_interval=0.05)
    passes = 0
    real = worker._pass

    async def counted(handlers: Any) -> int:
        nonlocal passes
        passes += 1
        return await real(handlers)

    worker._pass = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    # 0.1 + 0.2 + 0.4 s of backoff fit in one second; polling without backoff would have made about 20 passes
    assert 2 <= passes <= 5


async def test_supervised_task__restarts_a_crashed_target_and_reports_it() -> None:
    stop = asyncio.Event()
    runs = 0
    release = asyncio.Event()

    async def target(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise RuntimeError(f"crash {runs}")
        await release.wait()
        await stop.wait()

    task = SupervisedTask(target, stop, name="t", initial_backoff=0.01, max_backoff=0.05)
    task.start()
    for _ in range(200):
        if runs == 3:
            break
        await asyncio.sleep(0.01)
    assert (runs, task.restarts, task.state, task.last_error) == (3, 2, "running", "RuntimeError: crash 2")
    release.set()
    stop.set()
    await asyncio.wait_for(task.join(), timeout=2)
    assert task.state == "stopped"


async def test_health__reports_a_worker_that_is_not_running(settings: Settings, engine: AsyncEngine) -> None:
    app = create_app(settings, AppOptions(handlers=[_Handler()]))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            for _ in range(100):
                if app.state.worker_task.state == "running":
                    break
                await asyncio.sleep(0.01)
            running = await http.get("/health")
            assert (running.status_code, running.json()["worker"]) == (200, "running")
            # A worker stuck in its restart backoff
            stop = asyncio.Event()

            async def crashing(stop: asyncio.Event) -> None:
                raise RuntimeError("boom")

            crashed = SupervisedTask(crashing, stop, name="crashing", initial_backoff=60)
            crashed.start()
            await asyncio.sleep(0.05)
            real = app.state.worker_task
            app.state.worker_task = crashed
            try:
                restarting = await http.get("/health")
            finally:
                app.state.worker_task = real
                stop.set()
                await crashed.join()
    assert (restarting.status_code, restarting.json()["worker"]) == (503, "restarting")
