"""``kill -9`` of ``fediserver gpu-worker`` in the middle of a render of the tiny model (issue 8,
point 4): the job stays leased to the dead worker, is claimed again once that lease lapses, and a
restarted worker finishes it, leaving no file that no attachment names."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts, migrate
from fediserver.config import Settings
from fediserver.db import make_engine, session_factory
from fediserver.imagegen import jobs
from fediserver.imagegen.worker import LEASE
from fediserver.models import GenerationJob, MediaAttachment, utcnow

SECRET = "gpu-crash-test-secret-0123456789abcdefghij"
STEPS = 50
SIZE = 256  # big enough that 50 steps of the tiny model take seconds on a CPU


def _config(tmp: Path, cache: Path) -> Path:
    path = tmp / "fediserver.toml"
    path.write_text(
        f"""
[instance]
domain = "127.0.0.1:9"
scheme = "http"
secret_key = "{SECRET}"
[database]
url = "sqlite+aiosqlite:///{tmp / "db.sqlite"}"
[media]
directory = "{tmp / "media"}"
[worker]
poll_interval = 0.05
[generation]
model = "tiny"
device = "cpu"
width = 64
height = 64
c2pa = false
cache_dir = "{cache}"
"""
    )
    return path


@pytest.fixture
async def db(tmp_path: Path, make_settings: object) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await migrate.upgrade(engine)
    sessions = session_factory(engine)
    async with sessions() as session:
        await accounts.create_user(session, "alice", "alice-password")
        await session.commit()
    yield sessions
    await engine.dispose()


async def _gpu_worker(config: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fediserver", "--config", str(config), "gpu-worker",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def _job(sessions: async_sessionmaker[AsyncSession], job_id: int) -> GenerationJob:
    async with sessions() as session:
        job = await session.get(GenerationJob, job_id)
        assert job is not None
        return job


async def _until(sessions: async_sessionmaker[AsyncSession], job_id: int, ok: object, within: float) -> GenerationJob:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        job = await _job(sessions, job_id)
        if ok(job):  # type: ignore[operator]
            return job
        assert asyncio.get_running_loop().time() < deadline, f"job is {job.state} at step {job.progress_step}"
        await asyncio.sleep(0.05)


# Two GPU worker processes each import torch and load the model: minutes on a loaded 2-core machine.
@pytest.mark.timeout(900)
async def test_kill_9_during_render__job_reclaimed_after_its_lease_and_finished(
    tmp_path: Path, tiny_cache_dir: Path, db: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    config = _config(tmp_path, tiny_cache_dir)
    async with db() as session:
        alice = await accounts.get_user_actor(session, "alice")
        request = jobs.build_request(settings, "a fox", model="tiny", steps=STEPS, width=SIZE, height=SIZE, seed=7)
        job_id = (await jobs.enqueue(session, alice, request, quota=None)).id
        await session.commit()

    # When the GPU worker is killed part-way through the render
    first = await _gpu_worker(config)
    try:
        mid = await _until(db, job_id, lambda j: j.state == "running" and j.progress_step > 0, within=300)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    killed = await _job(db, job_id)
    # Then the job is still leased to the dead worker (not lost, not finished)...
    assert killed.state == "running"
    assert killed.progress_step < STEPS, "the kill landed mid-render"
    assert killed.locked_until is not None
    assert utcnow() < killed.locked_until <= utcnow() + LEASE
    assert mid.attempts == 1
    # ...until the lease lapses (moved to now rather than waited for: LEASE is a minute)
    async with db() as session:
        await session.execute(
            update(GenerationJob).where(GenerationJob.id == job_id).values(locked_until=utcnow() - timedelta(seconds=1))
        )
        await session.commit()

    second = await _gpu_worker(config)
    try:
        done = await _until(db, job_id, lambda j: j.state in ("done", "failed"), within=300)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), timeout=30)
    assert (done.state, done.attempts, done.locked_until) == ("done", 2, None)
    assert done.progress_step == STEPS
    async with db() as session:
        media = list((await session.scalars(select(MediaAttachment))).all())
    assert [m.generation_job_id for m in media] == [job_id]
    named = {k for m in media for k in (m.storage_key, m.original_key, m.thumbnail_key) if k}
    on_disk = {str(p.relative_to(tmp_path / "media")) for p in (tmp_path / "media").rglob("*") if p.is_file()}
    assert on_disk == named, "no orphan file from the killed render"
