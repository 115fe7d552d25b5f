"""Generation jobs watched by event streams (fediserver/imagegen/watch.py): one read for all, wake on change."""

from __future__ import annotations

import asyncio

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.db import session_factory
from fediserver.imagegen import jobs
from fediserver.imagegen.watch import JobWatch
from fediserver.models import GenerationJob
from generation.presets import resolve_request
from tests.statements import recorded


async def _jobs(sessions: async_sessionmaker[AsyncSession], count: int) -> list[str]:
    async with sessions() as session:
        user = await accounts.create_user(session, "wren", "long enough password")
        made = [
            await jobs.enqueue(session, user.actor, resolve_request(f"p{i}", seed=i, model="tiny"), quota=None)
            for i in range(count)
        ]
        await session.commit()
        return [job.token for job in made]


async def _set(sessions: async_sessionmaker[AsyncSession], token: str, **values: object) -> None:
    async with sessions() as session:
        await session.execute(update(GenerationJob).where(GenerationJob.token == token).values(**values))
        await session.commit()


async def test_job_watch__one_read_for_every_watcher_and_only_the_changed_job_wakes(db: AsyncEngine) -> None:
    # Given three watched jobs (two streams on the first) and a watch whose task does not run by itself
    sessions = session_factory(db)
    first, second, third = await _jobs(sessions, 3)
    watch = JobWatch(sessions, interval=3600)
    with watch.watch(first) as a, watch.watch(first) as b, watch.watch(second) as c, watch.watch(third) as d:
        await watch.close()
        await watch.read_once()
        assert all(e.is_set() for e in (a, b, c, d)), "the first read tells every stream where its job is"
        for event in (a, b, c, d):
            event.clear()
        # When the first job's progress and the third's state change
        await _set(sessions, first, progress_step=1, progress_total=4)
        await _set(sessions, third, state="done")
        with recorded(db) as sent:
            await watch.read_once()
        # Then one statement read all three, and only their watchers woke
        assert len([s for s in sent if s.startswith("SELECT")]) == 1
        assert (a.is_set(), b.is_set(), c.is_set(), d.is_set()) == (True, True, False, True)
        # And a read with nothing changed wakes nobody
        for event in (a, b, d):
            event.clear()
        await watch.read_once()
        assert not any(e.is_set() for e in (a, b, c, d))
    # Once every stream has left, nothing is watched
    with recorded(db) as sent:
        await watch.read_once()
    assert sent == []


async def test_job_watch__its_task_wakes_a_stream_and_ends_with_the_last_one(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    [token] = await _jobs(sessions, 1)
    watch = JobWatch(sessions, interval=0.01)
    with watch.watch(token) as changed:
        await asyncio.wait_for(changed.wait(), 5)
        changed.clear()
        await _set(sessions, token, state="done")
        await asyncio.wait_for(changed.wait(), 5)
        task = watch._task
    assert task is not None
    await asyncio.wait_for(task, 5)
    await watch.close()
