"""Durable queues: claiming with a lease, expiry, retry scheduling and the worker loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.db import make_engine, session_factory
from fediserver.federation.inbound.dispatch import InboxHandler
from fediserver.jobs import doorbell, queue
from fediserver.jobs.ordering import MAX_IN_ORDER_PER_PASS
from fediserver.jobs.retry import Backoff
from fediserver.jobs.worker import PermanentJobError, RetryLater, Worker
from fediserver.models import DeliveryJob, InboundActivity

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


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


async def test_claim__leases_due_jobs_once(db: AsyncEngine) -> None:
    sessions = session_factory(db)
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


async def test_claim__never_claims_more_than_its_limit(db: AsyncEngine) -> None:
    # PostgreSQL once claimed every row a rescanned candidate subquery offered: 5 of 5 for a limit of 2.
    sessions = session_factory(db)
    ids = await _add_jobs(sessions, 5)
    assert await _claim_ids(sessions, 2) == ids[:2]
    assert await _claim_ids(sessions, 1) == ids[2:3]


async def test_claim__skips_jobs_not_yet_due(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    await _add_jobs(sessions, 1, due=T0 + timedelta(minutes=1))
    async with sessions() as session:
        assert await queue.claim(session, DeliveryJob, T0, LEASE) == []
    async with sessions() as session:
        assert len(await queue.claim(session, DeliveryJob, T0 + timedelta(minutes=1), LEASE)) == 1


async def test_claim__takes_back_a_job_whose_lease_expired(db: AsyncEngine) -> None:
    # Given a job claimed by a worker that then died
    sessions = session_factory(db)
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


async def test_claim_ids__each_claim_has_its_own_time_and_lease(db: AsyncEngine) -> None:
    # claim_ids builds its statement once per kind of claim: the time and the lease are that statement's
    # parameters, not values of the first claim kept in it.
    sessions = session_factory(db)
    due = T0 + timedelta(minutes=1)
    [job_id] = await _add_jobs(sessions, 1, due=due)
    async with sessions() as session:
        assert await queue.claim_ids(session, DeliveryJob, T0, LEASE, 4) == []
    async with sessions() as session:
        first = await queue.claim_ids(session, DeliveryJob, due, LEASE, 4)
    assert [(c.id, c.attempts) for c in first] == [(job_id, 1)]
    assert (await _job(sessions, job_id)).locked_until == due + LEASE
    async with sessions() as session:
        assert await queue.claim_ids(session, DeliveryJob, due + LEASE, timedelta(hours=1), 4) == []
    lapsed = due + LEASE + timedelta(seconds=1)
    async with sessions() as session:
        again = await queue.claim_ids(session, DeliveryJob, lapsed, timedelta(hours=1), 4)
    assert [(c.id, c.attempts) for c in again] == [(job_id, 2)]
    assert (await _job(sessions, job_id)).locked_until == lapsed + timedelta(hours=1)


async def _same_inbox(sessions: async_sessionmaker[AsyncSession], ids: list[int], inbox: str) -> None:
    async with sessions() as session:
        for job_id in ids:
            job = await session.get(DeliveryJob, job_id)
            assert job is not None
            job.inbox_url = inbox
        await session.commit()


async def _claim_ids(sessions: async_sessionmaker[AsyncSession], limit: int, **kwargs: Any) -> list[int]:
    async with sessions() as session:
        claimed = await queue.claim_ids(session, DeliveryJob, T0, LEASE, limit, **kwargs)
    return [job.id for job in claimed]


async def test_claim__in_order_of_holds_a_younger_job_while_an_older_one_of_its_key_runs(
    db: AsyncEngine,
) -> None:
    # Given two jobs to one inbox and one to another, the first claimed by a worker (another process)
    sessions = session_factory(db)
    first, second, other = await _add_jobs(sessions, 3)
    await _same_inbox(sessions, [first, second], "https://h.example/inbox")
    assert await _claim_ids(sessions, 1, in_order_of="inbox_url") == [first]
    # When a second worker claims: the other inbox's job only; the first inbox's next job waits its turn
    assert await _claim_ids(sessions, 5, in_order_of="inbox_url") == [other]
    async with sessions() as session:
        job = await session.get(DeliveryJob, first)
        assert job is not None
        queue.finish(job)
        await session.commit()
    # Then once the first job is done, the second is claimed
    assert await _claim_ids(sessions, 5, in_order_of="inbox_url") == [second]


async def test_claim__without_in_order_of_a_younger_job_overtakes(db: AsyncEngine) -> None:
    # The twin: the same jobs, claimed without the key, go to two workers at once.
    sessions = session_factory(db)
    first, second, other = await _add_jobs(sessions, 3)
    await _same_inbox(sessions, [first, second], "https://h.example/inbox")
    assert await _claim_ids(sessions, 1) == [first]
    assert sorted(await _claim_ids(sessions, 5)) == [second, other]


async def _inbound(sessions: async_sessionmaker[AsyncSession], activities: list[tuple[str, str]]) -> list[int]:
    """Queued inbound activities, (type, sender) each, due in that order; their ids."""
    rows = [
        {
            "activity_id": f"https://r.example/activities/{n}", "activity_type": kind, "actor_uri": actor,
            "key_id": f"{actor}#main-key", "body": {}, "state": "queued", "attempts": 0,
            "next_attempt_at": T0 + timedelta(milliseconds=n), "received_at": T0,
        }
        for n, (kind, actor) in enumerate(activities)
    ]  # fmt: skip
    async with sessions() as session:
        ids = list(
            await session.scalars(
                insert(InboundActivity).returning(InboundActivity.id, sort_by_parameter_order=True), rows
            )
        )
        await session.commit()
    return ids


async def _claim_inbound(
    sessions: async_sessionmaker[AsyncSession], limit: int, keys_per_claim: int | None = None
) -> list[int]:
    """A claim as the worker makes it for the inbox handler (its ordering read as the worker reads it)."""
    async with sessions() as session:
        claimed = await queue.claim_ids(
            session,
            InboundActivity,
            T0 + timedelta(seconds=1),
            LEASE,
            limit,
            in_order_of=getattr(InboxHandler, "in_order_of", None),
            keys_per_claim=keys_per_claim,
        )
    return sorted(job.id for job in claimed)


async def test_claim__the_inbox_keeps_one_senders_order_across_workers(db: AsyncEngine) -> None:
    # Given a sender's Create, another sender's Create, then the first sender's Delete of that post
    sessions = session_factory(db)
    a, b = "https://r.example/users/a", "https://r.example/users/b"
    create, other, delete = await _inbound(sessions, [("Create", a), ("Create", b), ("Delete", a)])
    # When one worker has claimed the two Creates, and another worker claims
    assert await _claim_inbound(sessions, 2) == [create, other]
    # Then the Delete waits while its Create runs (it would have found no post, and the post would stay)
    assert await _claim_inbound(sessions, 5) == []
    async with sessions() as session:
        job = await session.get(InboundActivity, create)
        assert job is not None
        queue.finish(job)
        await session.commit()
    assert await _claim_inbound(sessions, 5) == [delete]


async def test_claim__keys_per_claim_leaves_senders_to_another_worker(db: AsyncEngine) -> None:
    # Given more senders than half a batch, each with two activities, interleaved as they arrive
    sessions = session_factory(db)
    half = InboxHandler.batch_size // 2
    senders = [f"https://r.example/users/{n}" for n in range(half + 4)]
    ids = await _inbound(sessions, [("Create", sender) for _ in range(2) for sender in senders])
    sender_of = {job: senders[n % len(senders)] for n, job in enumerate(ids)}
    # When a worker claims a batch, and then another
    first = await _claim_inbound(sessions, InboxHandler.batch_size, half)
    second = await _claim_inbound(sessions, InboxHandler.batch_size, half)
    # Then the first took the half batch of senders whose first jobs came first, and the second the rest:
    # both have work (the first would have taken every sender, and the second none)
    assert {sender_of[job] for job in first} == set(senders[:half])
    assert {sender_of[job] for job in second} == set(senders[half:])


async def test_claim__in_order_of_claims_a_ready_key_together_and_skips_a_job_waiting_to_retry(
    db: AsyncEngine,
) -> None:
    # Given three jobs to one inbox, the oldest failed and waiting to retry in an hour
    sessions = session_factory(db)
    retrying, *ready = await _add_jobs(sessions, 3)
    await _same_inbox(sessions, [retrying, *ready], "https://h.example/inbox")
    async with sessions() as session:
        job = await session.get(DeliveryJob, retrying)
        assert job is not None
        queue.reschedule(job, T0 + timedelta(hours=1), "503")
        await session.commit()
    # Then the ready ones are claimed in one batch (the worker runs them in order): the retry blocks nothing
    assert sorted(await _claim_ids(sessions, 5, in_order_of="inbox_url")) == ready


def _overlapping_pairs(intervals: list[list[tuple[float, float]]]) -> int:
    """How many claims of different claimers were in flight at the same time."""
    count = 0
    for i, mine in enumerate(intervals):
        for theirs in intervals[i + 1 :]:
            count += sum(1 for a0, a1 in mine for b0, b1 in theirs if a0 < b1 and b0 < a1)
    return count


async def _claimed_once(sessions: async_sessionmaker[AsyncSession], ids: list[int]) -> None:
    """Every job was claimed, and by the database's own count exactly once."""
    async with sessions() as session:
        rows = (await session.execute(select(DeliveryJob.id, DeliveryJob.state, DeliveryJob.attempts))).all()
    assert sorted(rows) == [(job_id, "running", 1) for job_id in ids]


async def test_claim__concurrent_claimers_never_share_a_job(db: AsyncEngine, database_url: str) -> None:
    # Each claimer has its own engine (its own connections), as separate worker processes would.
    sessions = session_factory(db)
    ids = await _add_jobs(sessions, 60)
    engines = [make_engine(database_url) for _ in range(4)]
    start = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def claimer(
        claimer_sessions: async_sessionmaker[AsyncSession],
    ) -> tuple[list[int], list[tuple[float, float]]]:
        got: list[int] = []
        spans: list[tuple[float, float]] = []
        await start.wait()
        while True:
            began = loop.time()
            async with claimer_sessions() as session:
                jobs = await queue.claim(session, DeliveryJob, T0, LEASE, limit=3)
            spans.append((began, loop.time()))
            if not jobs:
                return got, spans
            got.extend(j.id for j in jobs)

    try:
        tasks = [asyncio.create_task(claimer(session_factory(e))) for e in engines]
        await asyncio.sleep(0)
        start.set()
        results = await asyncio.gather(*tasks)
    finally:
        for e in engines:
            await e.dispose()
    claimed = [job_id for got, _ in results for job_id in got]
    assert sorted(claimed) == ids
    await _claimed_once(sessions, ids)
    # The test means something only if the claims really ran at the same time.
    assert _overlapping_pairs([spans for _, spans in results]) > 0


CLAIMER_PROCESS = """
import asyncio, json, os, sys, time
from datetime import datetime, timedelta
from fediserver.db import make_engine, session_factory
from fediserver.jobs import doorbell, queue
from fediserver.federation.inbound.dispatch import InboxHandler
from fediserver.models import DeliveryJob, InboundActivity

async def main(url, go, now):
    engine = make_engine(url)
    sessions = session_factory(engine)
    async with engine.connect():
        pass
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    got, spans = [], []
    while True:
        began = time.time()
        async with sessions() as session:
            jobs = await queue.claim(session, DeliveryJob, now, timedelta(minutes=5), limit=2)
        spans.append((began, time.time()))
        if not jobs:
            break
        got.extend(j.id for j in jobs)
    await engine.dispose()
    print(json.dumps({"got": got, "spans": spans}))

asyncio.run(main(sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])))
"""


async def test_claim__claimer_processes_never_share_a_job(db: AsyncEngine, database_url: str, tmp_path: Path) -> None:
    # Four OS processes claim from one database at once: on SQLite, four writers on one file.
    sessions = session_factory(db)
    ids = await _add_jobs(sessions, 40)
    go = tmp_path / "go"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLAIMER_PROCESS, database_url, str(go), T0.isoformat(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]  # fmt: skip
    for proc in procs:  # let them import and connect, then release them together
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), timeout=60) == b"ready\n"
    go.touch()
    outputs = [await asyncio.wait_for(p.communicate(), timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    results = [json.loads(out) for out, _ in outputs]
    claimed = [job_id for r in results for job_id in r["got"]]
    assert sorted(claimed) == ids
    await _claimed_once(sessions, ids)
    assert _overlapping_pairs([[tuple(span) for span in r["spans"]] for r in results]) > 0


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


async def test_worker__marks_success_done(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    [job_id] = await _add_jobs(sessions, 1)
    handler = _Handler(None)
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 1
    job = await _job(sessions, job_id)
    assert (job.state, job.locked_until, job.last_status) == ("done", None, 202)


async def test_worker__reschedules_a_failure_and_honours_retry_after(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    [job_id] = await _add_jobs(sessions, 1)
    handler = _Handler(RetryLater("503 from inbox", retry_after=timedelta(hours=1), status=503))
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    await worker.run_once()
    job = await _job(sessions, job_id)
    assert job.state == "queued"
    assert job.next_attempt_at == T0 + timedelta(hours=1)
    assert job.last_error == "RetryLater: 503 from inbox"
    assert job.last_status is None, "a failed attempt's changes are rolled back"


async def test_worker__gives_up_on_permanent_errors_and_past_the_horizon(db: AsyncEngine) -> None:
    sessions = session_factory(db)
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


async def test_worker__run_stops_when_asked(db: AsyncEngine) -> None:
    sessions = session_factory(db)
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


async def test_worker__a_wake_up_during_an_empty_pass_starts_the_next_pass(
    db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker that polls once an hour, and a job committed (and the worker woken) just after the
    # worker's claim found nothing
    sessions = session_factory(db)
    handler = _Handler(None)
    worker = Worker(sessions, [handler], lease=LEASE, poll_interval=3600)
    claim_ids = queue.claim_ids
    added: list[int] = []

    async def claim_then_enqueue(*args: Any, **kwargs: Any) -> list[queue.Claimed]:
        claimed = await claim_ids(*args, **kwargs)
        if not added:
            added.extend(await _add_jobs(sessions, 1, due=datetime.now(UTC)))
            worker.wake()
        return claimed

    monkeypatch.setattr(queue, "claim_ids", claim_then_enqueue)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    # Then the wake-up is not lost: the next pass takes the job, without waiting for the next poll
    for _ in range(500):
        if handler.seen:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert handler.seen == added, "the wake-up was lost: the job waits for the hourly poll"


class _PartitionedHandler(_Handler):
    """Jobs on the same host are one partition; records when each job runs."""

    concurrency = 4

    def __init__(self) -> None:
        super().__init__(None)
        self.spans: dict[int, tuple[float, float]] = {}
        self.hosts: dict[int, str] = {}

    def partition(self, job: Any) -> str | None:
        assert isinstance(job, DeliveryJob)
        return job.host

    async def handle(self, session: AsyncSession, job: Any) -> None:
        start = asyncio.get_running_loop().time()
        await asyncio.sleep(0.05)
        self.spans[job.id] = (start, asyncio.get_running_loop().time())
        self.hosts[job.id] = job.host


async def test_worker__one_partition_runs_in_order_and_partitions_run_together(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    ids = await _add_jobs(sessions, 6)
    async with sessions() as session:
        for job_id in ids:  # two hosts, three jobs each, interleaved
            job = await session.get(DeliveryJob, job_id)
            assert job is not None
            job.host = f"h{job_id % 2}.example"
        await session.commit()
    handler = _PartitionedHandler()
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    assert await worker.run_once() == 6
    for host in {"h0.example", "h1.example"}:
        mine = sorted((job_id for job_id, h in handler.hosts.items() if h == host), key=lambda j: handler.spans[j][0])
        assert mine == sorted(mine), "one partition runs oldest first"
        for earlier, later in itertools.pairwise(mine):
            assert handler.spans[earlier][1] <= handler.spans[later][0], "one partition never overlaps itself"
    first = {
        h: min(handler.spans[j][0] for j, hh in handler.hosts.items() if hh == h) for h in set(handler.hosts.values())
    }
    last = {
        h: max(handler.spans[j][1] for j, hh in handler.hosts.items() if hh == h) for h in set(handler.hosts.values())
    }
    a, b = sorted(first)
    assert first[b] < last[a], "the two partitions ran at the same time"
    assert first[a] < last[b], "the two partitions ran at the same time"


class _InOrderHandler(_Handler):
    in_order_of = "inbox_url"
    concurrency = 4


async def test_worker__one_key_runs_at_most_a_few_jobs_a_pass_and_hands_the_rest_back(
    db: AsyncEngine,
) -> None:
    # Given twelve jobs to one inbox, all claimed in one batch
    sessions = session_factory(db)
    ids = await _add_jobs(sessions, 12)
    await _same_inbox(sessions, ids, "https://h.example/inbox")
    handler = _InOrderHandler(None)
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0)
    # When a pass runs, the first eight run in order and the rest are back in the queue, untried
    assert await worker.run_once() == MAX_IN_ORDER_PER_PASS
    assert handler.seen == ids[:MAX_IN_ORDER_PER_PASS]
    rest = [await _job(sessions, job_id) for job_id in ids[MAX_IN_ORDER_PER_PASS:]]
    assert {(job.state, job.attempts, job.locked_until) for job in rest} == {("queued", 0, None)}
    # Then the next pass runs them, still in order
    assert await worker.run_once() == len(ids) - MAX_IN_ORDER_PER_PASS
    assert handler.seen == ids


class _WakingHandler(_Handler):
    """Enqueues meanwhile (calls ``wake``, as the inbox does) while it handles a job, if ``wake`` is set."""

    def __init__(self, wake: bool) -> None:
        super().__init__(None)
        self.wake = wake
        self.worker: Worker | None = None

    async def handle(self, session: AsyncSession, job: Any) -> None:
        await super().handle(session, job)
        if self.wake and self.worker is not None:
            self.worker.wake()


async def _giving_way_worker(
    sessions: async_sessionmaker[AsyncSession], woken_by: doorbell.Doorbell | None = None
) -> tuple[Worker, list[float]]:
    """A giving-way worker with one job whose handler enqueues meanwhile (``wake``), and when each pass began."""
    await _add_jobs(sessions, 1)
    handler = _WakingHandler(True)
    worker = Worker(
        sessions, [handler], lease=LEASE, clock=lambda: T0, poll_interval=0.01, gives_way=True, woken_by=woken_by
    )
    handler.worker = worker
    passes: list[float] = []
    one_pass = worker._pass

    async def counted(handlers: Any) -> int:
        passes.append(time.monotonic())
        return await one_pass(handlers)

    worker._pass = counted  # type: ignore[method-assign]
    return worker, passes


@pytest.mark.parametrize("wake", [True, False])
async def test_worker__gives_way_after_a_pass_during_which_jobs_arrived(db: AsyncEngine, wake: bool) -> None:
    sessions = session_factory(db)
    await _add_jobs(sessions, 2)
    handler = _WakingHandler(wake)
    worker = Worker(sessions, [handler], lease=LEASE, clock=lambda: T0, poll_interval=0.01, gives_way=True)
    handler.worker = worker
    stop = asyncio.Event()
    pauses: list[tuple[float, bool]] = []

    async def idle(_stop: asyncio.Event, seconds: float, *, wakeable: bool = True) -> None:
        pauses.append((seconds, wakeable))
        stop.set()  # one pass, then what follows it

    worker._idle = idle  # type: ignore[method-assign, assignment]
    await asyncio.wait_for(worker.run(stop), timeout=5)
    assert len(handler.seen) == 2
    if wake:
        [(seconds, wakeable)] = pauses
        assert (seconds > 0, wakeable) == (True, False), "a pause, not cut short by wakes"
    else:
        assert pauses == [(0.01, True)], "no jobs arrived: straight on to the next pass, found empty, then a poll"


async def test_worker__giving_way_waits_until_jobs_stop_coming_at_most_a_second(db: AsyncEngine) -> None:
    # Given a giving-way worker whose first pass saw jobs enqueued meanwhile
    worker, passes = await _giving_way_worker(session_factory(db))

    async def enqueue_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            worker.wake()
            await asyncio.sleep(0.01)

    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    # When jobs keep coming for 0.4 s, then stop
    await enqueue_for(0.4)
    stopped_at = time.monotonic()
    await asyncio.sleep(0.3)
    # Then the second pass came only after they stopped
    assert len(passes) >= 2
    assert passes[1] >= stopped_at - 0.02, "a pass while jobs were still coming"
    # And with jobs coming all the time, a pass still comes every second or so
    await enqueue_for(2.5)
    stop.set()
    await asyncio.wait_for(running, 5)
    during = [t for t in passes if t > stopped_at + 0.3]
    assert 2 <= len(during) <= 4, during


async def test_worker__giving_way_waits_while_a_request_is_served_however_long(db: AsyncEngine) -> None:
    # Given a giving-way worker whose first pass saw a job enqueued meanwhile
    worker, passes = await _giving_way_worker(session_factory(db))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    # When a request is served for 0.4 s without ending (the inbox waiting for its group commit): no wake
    # meanwhile, so only the request in flight tells the worker that the inbox is busy
    with worker.serving():
        await asyncio.sleep(0.4)
        served_until = time.monotonic()
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(running, 5)
    # Then the next pass came only after it ended
    assert len(passes) >= 2
    assert passes[1] >= served_until, "a pass while a request was being served"


async def _ring_for(sessions: async_sessionmaker[AsyncSession], channel: str, seconds: float) -> float:
    """Ring ``channel`` through the database every 10 ms for ``seconds``, as another web process's inbox
    rings after each commit; returns when the last ring was committed."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        async with sessions() as session:
            await doorbell.ring(session, channel)
            await session.commit()
        await asyncio.sleep(0.01)
    return time.monotonic()


@pytest.mark.parametrize("channel", [doorbell.INBOX, doorbell.FEDERATION])
async def test_worker__giving_way_waits_while_another_process_inbox_rings(db: AsyncEngine, channel: str) -> None:
    # Given a giving-way worker that hears the bells (the primary of several web processes), whose first pass
    # saw a job enqueued meanwhile
    sessions = session_factory(db)
    bell = await doorbell.Doorbell.open(db, [doorbell.INBOX, doorbell.FEDERATION])
    try:
        worker, passes = await _giving_way_worker(sessions, woken_by=bell)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        # When another process's inbox (or its deliveries) rings for 0.5 s: nothing in this process enqueues
        rang_until = await _ring_for(sessions, channel, 0.5)
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(running, 5)
    finally:
        await bell.close()
    assert len(passes) >= 2
    if channel == doorbell.INBOX:
        # Then its next pass waited for the inbox's rings to stop
        assert passes[1] >= rang_until - 0.02, "a pass while another process's inbox was taking activities"
    else:
        # Deliveries are mostly the worker's own: they do not hold it back
        assert passes[1] < rang_until - 0.3, "held back by rings of the delivery bell"


def _delivery_rows(signer: int, count: int, state: str, first: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "activity_id": f"https://a.example/activities/{first + i}", "inbox_url": "https://b.example/inbox",
            "host": "b.example", "signer_actor_id": signer, "body": "{}", "state": state,
            "next_attempt_at": T0 - timedelta(days=1, milliseconds=-(first + i)), "give_up_at": T0 + LEASE,
            "attempts": 1 if state == "done" else 0,
        }
        for i in range(count)
    ]  # fmt: skip


async def _insert(sessions: async_sessionmaker[AsyncSession], make: Any) -> list[int]:
    """Rows from ``make(signer_id)``, inserted; their ids in order. (Nothing reads the table here: PostgreSQL
    counts a transaction's reads with those of the connection's last second, which a claim then shows.)"""
    async with sessions() as session:
        signer = (await accounts.ensure_instance_actor(session)).id
        await session.commit()
    rows = make(signer)
    ids: list[int] = []
    async with sessions() as session:
        for start in range(0, len(rows), 10_000):
            returning = insert(DeliveryJob).returning(DeliveryJob.id, sort_by_parameter_order=True)
            ids += await session.scalars(returning, rows[start : start + 10_000])
        await session.commit()
    return ids


async def _claim_counting_work(db: AsyncEngine, limit: int) -> tuple[list[int], int]:
    """One claim of ``limit`` deliveries, and the work its database did: on PostgreSQL the table's rows read
    (``pg_stat_xact_user_tables``, just before the claim commits), on SQLite the virtual machine's steps (a
    progress handler called every 10)."""
    sessions = session_factory(db)
    async with sessions() as session:
        counted: list[int] = []
        if db.dialect.name == "postgresql":
            commit = session.commit

            async def count_then_commit() -> None:
                read = await session.scalar(
                    text(
                        "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
                        "WHERE relname = 'delivery_jobs'"
                    )
                )
                counted.append(int(read or 0))
                await commit()

            session.commit = count_then_commit  # type: ignore[method-assign]
            claimed = await queue.claim_ids(session, DeliveryJob, T0, LEASE, limit, max_attempts=5)
        else:
            # aiosqlite's own connection thread must set the handler (fediserver.sqlite_driver names the API).
            aio: Any = (await (await session.connection()).get_raw_connection()).driver_connection
            steps = [0]

            def step() -> int:
                steps[0] += 1
                return 0

            await aio._execute(aio._conn.set_progress_handler, step, 10)
            try:
                claimed = await queue.claim_ids(session, DeliveryJob, T0, LEASE, limit, max_attempts=5)
            finally:
                await aio._execute(aio._conn.set_progress_handler, None, 10)
            counted.append(steps[0])
    return sorted(job.id for job in claimed), counted[0]


async def test_claim__reads_the_claimable_jobs_not_the_done_history(db: AsyncEngine) -> None:
    """Done jobs are kept. With statistics, PostgreSQL walked the index of every row's due time from the oldest
    and read every done job before the first due one (18 ms a claim at 100,000 done jobs, docs/benchmarks.md);
    ``claim_index`` puts them under a state of their own."""
    sessions = session_factory(db)
    await _insert(sessions, lambda s: _delivery_rows(s, 100_000, "done"))
    ids = await _insert(sessions, lambda s: _delivery_rows(s, 2000, "queued", 100_000))
    if db.dialect.name == "postgresql":
        async with db.connect() as conn:
            await conn.execute(text("ANALYZE delivery_jobs"))
            await conn.commit()
    claimed, work = await _claim_counting_work(db, 16)
    assert sorted(claimed) == ids[:16]
    if db.dialect.name == "postgresql":
        # Each claimed row about twice (chosen, then updated); the old index of every row's due time read all
        # 100,000 done ones first.
        assert work <= 4 * 16, f"rows read by the claim: {work}"


async def test_claim__work_follows_the_batch_not_the_backlog(db: AsyncEngine) -> None:
    """Without statistics (a new instance; a backlog that grew faster than autovacuum looks) PostgreSQL read
    every queued job through a bitmap and sorted them, and SQLite read the state index and sorted: 85 ms a
    claim at 100,000 queued on either (docs/benchmarks.md). A claim of 16 now does about the same work at
    500 queued and at 20,000."""
    sessions = session_factory(db)
    small = await _insert(sessions, lambda s: _delivery_rows(s, 500, "queued"))
    claimed, little = await _claim_counting_work(db, 16)
    assert claimed == small[:16]
    await _insert(sessions, lambda s: _delivery_rows(s, 19_500, "queued", 500))
    claimed, much = await _claim_counting_work(db, 16)
    assert claimed == small[16:32]
    assert much <= 2 * little + 32, f"work at 500 queued: {little}, at 20,000: {much}"


async def test_claim__takes_lapsed_and_due_jobs_together_oldest_first_within_its_limit(db: AsyncEngine) -> None:
    # Given four jobs due one after another, the second and the fourth claimed by a worker that then died
    sessions = session_factory(db)
    ids = await _add_jobs(sessions, 4)
    async with sessions() as session:
        for n, job_id in enumerate(ids):
            job = await session.get(DeliveryJob, job_id)
            assert job is not None
            job.next_attempt_at = T0 + timedelta(seconds=n)
            if n in (1, 3):
                job.state, job.attempts, job.locked_until = "running", 1, T0 + timedelta(seconds=10)
        await session.commit()
    # When a claim of three comes after their leases lapsed
    async with sessions() as session:
        claimed = await queue.claim_ids(session, DeliveryJob, T0 + timedelta(minutes=1), LEASE, 3)
    # Then it takes the three oldest, lapsed or queued, and the lapsed one as its second attempt
    assert sorted((job.id, job.attempts) for job in claimed) == [(ids[0], 1), (ids[1], 2), (ids[2], 1)]
    assert (await _job(sessions, ids[3])).state == "running"
