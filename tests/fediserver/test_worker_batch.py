"""A batched handler (``jobs.batch``): a claimed batch shares transactions, and every job still takes effect
exactly once and fails alone, whether it raises, asks for a fetch or breaks the commit."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver.db import session_factory, write_gate
from fediserver.jobs.retry import Backoff
from fediserver.jobs.worker import FetchFirst, Worker
from fediserver.models import InboundActivity, Tag

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


async def _add(sessions: async_sessionmaker[AsyncSession], count: int, first_sender: int = 0) -> list[int]:
    """``count`` jobs from two senders taking turns, ``users/<first_sender>`` first."""
    async with sessions() as session:
        ids = [
            int(
                await session.scalar(
                    insert(InboundActivity)
                    .values(
                        activity_id=f"https://remote.example/{i}",
                        activity_type="Create",
                        actor_uri=f"https://remote.example/users/{(i + first_sender) % 2}",
                        key_id="https://remote.example/users/x#main-key",
                        body={},
                        state="queued",
                        next_attempt_at=T0,
                    )
                    .returning(InboundActivity.id)
                )
                or 0
            )
            for i in range(count)
        ]
        await session.commit()
    return ids


class _Handler:
    """Each job writes one ``tags`` row named after it (unique: a second write of it would fail)."""

    name = "inbox-test"
    model = InboundActivity
    backoff = Backoff(initial=timedelta(seconds=10), factor=2, cap=timedelta(hours=1))
    batch_size = 10
    concurrency = 1
    max_attempts = 3

    def __init__(self, *, batched: bool = True, fail: int | None = None, fetch: int | None = None) -> None:
        self.batched = batched
        self.fail = fail
        self.fetch = fetch
        self.fetched: list[int] = []
        self.seen: list[int] = []
        # The job's state as each run of it began.
        self.states_seen: list[str] = []
        self.break_commit: int | None = None

    def give_up_at(self, job: Any) -> datetime | None:
        return None

    def partition(self, job: Any) -> str | None:
        return str(job.actor_uri)

    async def handle(self, session: AsyncSession, job: Any) -> None:
        self.seen.append(job.id)
        self.states_seen.append(job.state)
        session.add(Tag(name=f"job-{job.id}", display_name="x"))
        await session.flush()
        job_id = job.id
        if job_id == self.fetch and job_id not in self.fetched:

            async def fetch(_sessions: async_sessionmaker[AsyncSession]) -> None:
                self.fetched.append(job_id)

            raise FetchFirst(fetch, "a document")
        if job.id == self.fail:
            raise RuntimeError("bad activity")
        if job.id == self.break_commit:
            job.state = "exploded"  # violates the state CHECK constraint when flushed


async def _effects(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(select(Tag.name, func.count()).group_by(Tag.name))
        return {name: int(n) for name, n in rows}


async def _states(sessions: async_sessionmaker[AsyncSession]) -> dict[int, tuple[str, int, str | None]]:
    async with sessions() as session:
        rows = await session.execute(
            select(InboundActivity.id, InboundActivity.state, InboundActivity.attempts, InboundActivity.last_error)
        )
        return {row.id: (row.state, row.attempts, row.last_error) for row in rows}


def _count_commits(engine: AsyncEngine) -> list[int]:
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _conn: commits.append(1))
    return commits


@pytest.mark.parametrize("batched", [True, False])
async def test_batched__jobs_share_transactions_and_each_takes_effect_once(db: AsyncEngine, batched: bool) -> None:
    sessions = session_factory(db)
    ids = await _add(sessions, 6)
    commits = _count_commits(db)
    worker = Worker(sessions, [_Handler(batched=batched)], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 6
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids}
    assert {state for state, _, _ in (await _states(sessions)).values()} == {"done"}
    # Claim, load and the jobs: one transaction for all six when batched, one each otherwise.
    if batched:
        assert len(commits) <= 3
    else:
        assert len(commits) >= 6 + 1


async def test_batched__a_failing_job_fails_alone_its_senders_later_jobs_follow_it_and_the_rest_stay_together(
    db: AsyncEngine,
) -> None:
    sessions = session_factory(db)
    ids = await _add(sessions, 6)  # senders 0, 1, 0, 1, 0, 1
    bad = ids[2]
    commits = _count_commits(db)
    handler = _Handler(fail=bad)
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 6
    states = await _states(sessions)
    assert states[bad] == ("queued", 1, "RuntimeError: bad activity")
    assert all(states[i][:2] == ("done", 1) for i in ids if i != bad)
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids if i != bad}, "the failed job's write is undone"
    # The jobs run before the failure ran twice: the first time was rolled back with the failure, and the
    # second began from the row as claimed, not as the first run left it.
    assert len(handler.seen) > len(ids)
    assert set(handler.states_seen) == {"running"}
    last_run = {job_id: at for at, job_id in enumerate(handler.seen)}
    assert last_run[ids[0]] < last_run[bad] < last_run[ids[4]], "sender 0's activities in the order received"
    # The claim; the sender's first job and the other sender's three together; the failed job and the one
    # after it alone.
    assert len(commits) == 1 + 1 + 2


async def test_batched__a_fetch_holds_no_transaction_and_the_job_then_runs_once(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    ids = await _add(sessions, 4)
    handler = _Handler(fetch=ids[1])
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 4
    assert handler.fetched == [ids[1]]
    assert {state for state, _, _ in (await _states(sessions)).values()} == {"done"}
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids}


async def test_batched__a_job_that_breaks_the_commit_fails_alone(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    ids = await _add(sessions, 4)
    handler = _Handler()
    handler.break_commit = ids[3]
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 4
    states = await _states(sessions)
    state, attempts, error = states[ids[3]]
    assert (state, attempts) == ("queued", 1)
    assert error is not None
    assert "IntegrityError" in error
    assert all(states[i][:2] == ("done", 1) for i in ids[:3])
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids[:3]}


class _Ending(_Handler):
    """Ends each job with the changes ``ending`` gives it (besides ``done``)."""

    def __init__(self, ending: Any) -> None:
        super().__init__()
        self.ending = ending

    async def handle(self, session: AsyncSession, job: Any) -> None:
        await super().handle(session, job)
        for key, value in self.ending(job).items():
            setattr(job, key, value)


async def test_batched__outcomes_alike_take_one_update_and_the_others_each_their_own(db: AsyncEngine) -> None:
    # Equal changes (four jobs), changes of their own (two processed_at), one that cannot be compared (a JSON
    # body): each job's row gets exactly its own outcome.
    sessions = session_factory(db)
    ids = await _add(sessions, 7)
    late = {ids[4]: T0 + timedelta(seconds=4), ids[5]: T0 + timedelta(seconds=5)}

    def ending(job: Any) -> dict[str, Any]:
        if job.id == ids[6]:
            return {"body": {"kept": [job.id]}, "processed_at": T0}
        return {"processed_at": late.get(job.id, T0)}

    updates: list[tuple[bool, int]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE INBOUND_ACTIVITIES SET") and "attempts" not in statement:
            updates.append((" IN " in statement.split(" WHERE ")[1], len(parameters) if many else 1))

    event.listen(db.sync_engine, "before_cursor_execute", record)
    worker = Worker(sessions, [_Ending(ending)], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 7
    async with sessions() as session:
        rows = {
            row.id: (row.state, row.locked_until, row.processed_at, row.body)
            for row in await session.scalars(select(InboundActivity))
        }
    for job_id in ids:
        body = {"kept": [job_id]} if job_id == ids[6] else {}
        assert rows[job_id] == ("done", None, late.get(job_id, T0), body)
    # One UPDATE ... IN for the four alike; a run of two for those with a time of their own; one for the body.
    assert sorted(updates) == [(False, 1), (False, 2), (True, 1)], updates


class _WaitingWriter(_Handler):
    """On its first job, starts another writer of the process that waits at the write gate."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, wait: bool) -> None:
        super().__init__()
        self.sessions = sessions
        self.wait = wait
        self.writer: asyncio.Task[None] | None = None
        self.wrote_before: list[int] = []

    async def handle(self, session: AsyncSession, job: Any) -> None:
        await super().handle(session, job)
        gate = write_gate(session)
        assert gate is not None
        if self.writer is None and self.wait:

            async def write() -> None:
                async with gate.turn():
                    self.wrote_before = list(self.seen)

            self.writer = asyncio.create_task(write())
            await asyncio.sleep(0)  # the writer is now waiting for its turn


@pytest.mark.parametrize("wait", [True, False])
async def test_batched__sqlite_a_waiting_writer_gets_its_turn_after_the_current_job(
    db: AsyncEngine, wait: bool
) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("the write gate is SQLite's")
    sessions = session_factory(db)
    ids = await _add(sessions, 4)
    commits = _count_commits(db)
    handler = _WaitingWriter(sessions, wait=wait)
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 4
    if wait:
        assert handler.writer is not None
        await handler.writer
        # The batch committed after the first job and let the writer in before going on.
        assert handler.wrote_before == [ids[0]]
    else:
        assert handler.writer is None
    assert {state for state, _, _ in (await _states(sessions)).values()} == {"done"}
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids}
    # The claim, then the jobs in one transaction, or in two when the writer cut in (it commits nothing).
    assert len(commits) == (3 if wait else 2)


async def test_batched__sqlite_a_transaction_that_a_writer_is_waiting_for_prepares_only_its_one_job(
    db: AsyncEngine,
) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("the write gate is SQLite's")
    sessions = session_factory(db)
    ids = await _add(sessions, 4)
    handler = _Preparing(batched=True)
    async with sessions() as session:
        gate = write_gate(session)
    assert gate is not None
    release = asyncio.Event()
    seen_by_writer: list[list[int]] = []

    async def holder() -> None:
        async with gate.turn():
            await release.wait()

    async def waiting_writer() -> None:
        async with gate.turn():
            seen_by_writer.append(list(handler.seen))

    # Given the gate held, the batch's transaction queued for it, and another writer queued behind that
    holding = asyncio.create_task(holder())
    await asyncio.sleep(0)
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    running = asyncio.create_task(worker.run_once())
    for _ in range(2000):
        if gate.wanted:
            break
        await asyncio.sleep(0.005)
    assert gate.wanted, "the batch never queued for the gate"
    writer = asyncio.create_task(waiting_writer())
    await asyncio.sleep(0)
    # When the gate is let go
    release.set()
    assert await asyncio.wait_for(running, 10) == 4
    await asyncio.gather(holding, writer)
    # Then the first transaction, which a writer was waiting for, prepared and ran one job, and the writer
    # came next; the second prepared the rest
    assert [sorted(rows) for rows in handler.prepared] == [ids[:1], ids[1:]]
    assert seen_by_writer == [ids[:1]]
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids}


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_batched__lanes_keep_each_senders_order_and_take_effect_once(db: AsyncEngine, concurrency: int) -> None:
    sessions = session_factory(db)
    ids = await _add(sessions, 8)  # two senders, interleaved
    handler = _Handler()
    handler.concurrency = concurrency
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 8
    for sender in (0, 1):
        mine = [job_id for job_id in handler.seen if ids.index(job_id) % 2 == sender]
        assert mine == sorted(mine), "one sender's activities run in the order received"
    assert sorted(handler.seen) == ids, "each ran once"
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids}


class _Preparing(_Handler):
    def __init__(self, *, batched: bool) -> None:
        super().__init__(batched=batched)
        self.prepared: list[list[int]] = []

    async def prepare(self, session: AsyncSession, rows: list[Any]) -> None:
        self.prepared.append([row.id for row in rows])


@pytest.mark.parametrize("batched", [True, False])
async def test_batched__prepare_sees_the_rows_left_when_a_transaction_starts(db: AsyncEngine, batched: bool) -> None:
    sessions = session_factory(db)
    ids = await _add(sessions, 4)
    handler = _Preparing(batched=batched)
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 4
    if batched:
        # One transaction for all four: prepared once, with every row (in run order: by sender, then age).
        assert [sorted(rows) for rows in handler.prepared] == [ids]
    else:
        assert handler.prepared == [], "only a batched handler is prepared"
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids}


class _Quiet(_Handler):
    """Jobs that need no statement (a batch's inbound posts, whose rows wait for one INSERT): no await yields."""

    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    async def handle(self, session: AsyncSession, job: Any) -> None:
        self.events.append(f"job {job.id}")


async def test_batched__the_event_loop_runs_between_jobs_that_never_wait(db: AsyncEngine) -> None:
    """The in-process worker shares the loop with the inbox: requests (and a writer asking for the gate)
    must not wait for a whole batch of jobs that never await anything."""
    sessions = session_factory(db)
    ids = await _add(sessions, 5)
    events: list[str] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            events.append("tick")
            await asyncio.sleep(0)

    ticking = asyncio.create_task(ticker())
    try:
        worker = Worker(sessions, [_Quiet(events)], lease=LEASE, clock=lambda: T0)
        assert await worker.run_once() == 5
    finally:
        stop.set()
        await ticking
    jobs = [i for i, e in enumerate(events) if e.startswith("job")]
    assert sorted(events[i] for i in jobs) == sorted(f"job {i}" for i in ids)  # by sender, each once
    assert all(b - a > 1 for a, b in itertools.pairwise(jobs)), events


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_batched__a_claimed_batch_is_one_transaction_whatever_the_concurrency(
    db: AsyncEngine, concurrency: int
) -> None:
    sessions = session_factory(db)
    ids = await _add(sessions, 8)  # two senders
    commits = _count_commits(db)
    handler = _Handler()
    handler.concurrency = concurrency
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 8
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids}
    # The claim, then all eight jobs: concurrency is for jobs that run alone, not for lanes of transactions.
    assert len(commits) == 2


class _SlowFetches(_Handler):
    """The first job of each sender asks for a fetch that waits, up to half a second, for the other's."""

    def __init__(self, fetching: set[int]) -> None:
        super().__init__()
        self.fetching = fetching
        self.in_flight = 0
        self.most_in_flight = 0
        self.both = asyncio.Event()

    async def handle(self, session: AsyncSession, job: Any) -> None:
        self.seen.append(job.id)
        self.states_seen.append(job.state)
        session.add(Tag(name=f"job-{job.id}", display_name="x"))
        await session.flush()
        if job.id in self.fetching and job.id not in self.fetched:
            job_id = job.id

            async def fetch(_sessions: async_sessionmaker[AsyncSession]) -> None:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                if self.in_flight == len(self.fetching):
                    self.both.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.both.wait(), 0.5)
                self.in_flight -= 1
                self.fetched.append(job_id)

            raise FetchFirst(fetch, "a document")


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_batched__jobs_that_fetch_wait_side_by_side_up_to_the_concurrency(
    db: AsyncEngine, concurrency: int
) -> None:
    sessions = session_factory(db)
    ids = await _add(sessions, 4)  # senders 0, 1, 0, 1
    handler = _SlowFetches({ids[0], ids[1]})
    handler.concurrency = concurrency
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 4
    assert handler.most_in_flight == concurrency
    assert sorted(handler.fetched) == ids[:2]
    assert {state for state, _, _ in (await _states(sessions)).values()} == {"done"}
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids}


async def test_batched__senders_run_in_the_order_of_their_uris_whatever_came_first(db: AsyncEngine) -> None:
    """Concurrent workers' transactions then take per-sender locks (``account_stats``, which a note's trigger
    updates) in one order; in arrival order two of them deadlocked."""
    sessions = session_factory(db)
    ids = await _add(sessions, 4, first_sender=1)  # users/1, users/0, users/1, users/0
    handler = _Handler()
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 4
    assert handler.seen == [ids[1], ids[3], ids[0], ids[2]]
    assert await _effects(sessions) == {f"job-{i}": 1 for i in ids}
