"""``kill -9`` of a ``fediserver worker`` process in the middle of deliveries (issue 8, point 4).

A slow loopback inbox holds each POST for a while, so the kill lands while requests are in flight. After
a restart: every job is done (none lost), each activity reached the inbox at least once and only the
ones in flight at the kill twice (at-least-once, nothing more), and every lease was taken back.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver import accounts, migrate
from fediserver.db import make_engine, session_factory
from fediserver.models import DeliveryJob, utcnow

from .conftest import SECRET, eventually

JOBS = 8
HOLD_SECONDS = 2.5
LEASE_SECONDS = 3


class SlowInbox:
    """Records every POST's activity id when it arrives, then holds the answer for ``HOLD_SECONDS``."""

    def __init__(self) -> None:
        self.arrived: list[str] = []
        self.app = Starlette(routes=[Route("/inbox/{n}", self.inbox, methods=["POST"])])

    async def inbox(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.arrived.append(body["id"])
        await asyncio.sleep(HOLD_SECONDS)
        return Response(status_code=202)


def _config(tmp: Path) -> Path:
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
[federation]
allow_private_addresses = true
delivery_concurrency = 4
delivery_per_host = 4
[worker]
poll_interval = 0.05
lease_seconds = {LEASE_SECONDS}
[generation]
enabled = false
"""
    )
    return path


async def _start_worker(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fediserver", "--config", str(config), "worker",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def test_kill_9_during_delivery__nothing_lost_nothing_doubled_beyond_in_flight(
    tmp_path: Path, serve_app: Callable[[Starlette], Awaitable[str]]
) -> None:
    sink = SlowInbox()
    base = await serve_app(sink.app)
    config = _config(tmp_path)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await migrate.upgrade(engine)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            alice = await accounts.create_user(session, "alice", "password-alice")
            now = utcnow()
            activity_ids = [f"http://127.0.0.1:9/activities/{i}" for i in range(JOBS)]
            session.add_all(
                DeliveryJob(
                    activity_id=activity_id,
                    inbox_url=f"{base}/inbox/{i}",
                    host=base.removeprefix("http://"),
                    signer_actor_id=alice.id,
                    body=json.dumps({"id": activity_id, "type": "Create"}),
                    state="queued",
                    next_attempt_at=now,
                    give_up_at=now + timedelta(days=2),
                )
                for i, activity_id in enumerate(activity_ids)
            )
            await session.commit()

        # When the worker is killed while its first deliveries are held by the inbox
        first = await _start_worker(config)
        await eventually(lambda: _true(len(sink.arrived) >= 2), within=60)
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()
        in_flight = set(sink.arrived)
        states = await _states(sessions)
        assert {states[a][0] for a in in_flight} == {"running"}, "they were leased and never finished"

        # Then a restarted worker finishes every job once the dead worker's leases lapse
        second = await _start_worker(config)
        try:
            await eventually(lambda: _all_done(sessions), within=90)
        finally:
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), timeout=30) == 0
    finally:
        await engine.dispose()

    states = await _states_after(tmp_path)
    assert {s for s, _, _ in states.values()} == {"done"}
    assert all(locked is None for _, _, locked in states.values()), "no lease left behind"
    arrivals = Counter(sink.arrived)
    assert set(arrivals) == set(activity_ids), "no delivery lost"
    doubled = {a for a, n in arrivals.items() if n > 1}
    assert doubled <= in_flight, "only what was in flight at the kill is delivered again"
    assert max(arrivals.values()) <= 2
    for activity_id in in_flight:
        assert states[activity_id][1] == 2, "taken back as a second attempt"


async def _true(value: bool) -> bool:
    return value


async def _states(sessions: Any) -> dict[str, tuple[str, int, Any]]:
    async with sessions() as session:
        rows = (
            await session.execute(
                select(DeliveryJob.activity_id, DeliveryJob.state, DeliveryJob.attempts, DeliveryJob.locked_until)
            )
        ).all()
    return {r.activity_id: (r.state, r.attempts, r.locked_until) for r in rows}


async def _all_done(sessions: Any) -> bool:
    return {s for s, _, _ in (await _states(sessions)).values()} == {"done"}


async def _states_after(tmp: Path) -> dict[str, tuple[str, int, Any]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}")
    try:
        return await _states(session_factory(engine))
    finally:
        await engine.dispose()
