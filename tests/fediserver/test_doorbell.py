"""``jobs.doorbell.ring`` on SQLite: heard once the transaction commits, not after a rollback, and a session
that rings in many transactions keeps one pair of listeners (the inbox writer rings in every batch)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from fediserver.db import make_engine, session_factory
from fediserver.jobs import doorbell

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")


async def _heard(event: asyncio.Event) -> bool:
    try:
        await asyncio.wait_for(event.wait(), 0.5)
    except TimeoutError:
        return False
    event.clear()
    return True


async def test_ring__heard_after_commit_only_and_one_listener_per_session(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'bell.db'}")
    bell = await doorbell.Doorbell.open(engine, [doorbell.FEDERATION])
    heard = bell.event(doorbell.FEDERATION)
    try:
        async with session_factory(engine)() as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
            await session.commit()
            await session.execute(text("INSERT INTO t VALUES (1)"))
            await doorbell.ring(session, doorbell.FEDERATION)
            await session.rollback()
            assert not await _heard(heard)
            for n in range(20):
                await session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
                await doorbell.ring(session, doorbell.FEDERATION)
                await session.commit()
            assert await _heard(heard)
            assert len(session.sync_session.dispatch.after_commit) == 1
            await session.commit()  # nothing rung since: nothing heard
            assert not await _heard(heard)
    finally:
        await bell.close()
        await engine.dispose()
