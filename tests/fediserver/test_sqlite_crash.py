"""An interrupted SQLite write never corrupts the database (issue 8, point 4).

A child process writes through the server's own engine (WAL, synchronous=NORMAL) in a loop, reporting
each commit; it is killed with SIGKILL mid-stream, twice over. Afterwards the database passes
``PRAGMA integrity_check`` and holds every row whose commit was reported.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

from fediserver import migrate
from fediserver.db import make_engine

WRITER = """
import asyncio, sys
from datetime import UTC, datetime
from sqlalchemy import insert
from fediserver.db import make_engine, session_factory
from fediserver.models import InboundActivity

async def main(url, run):
    sessions = session_factory(make_engine(url))
    now = datetime.now(UTC)
    i = 0
    while True:
        async with sessions() as session:
            # Several rows of a few KB per transaction: commits span pages and trigger WAL checkpoints.
            await session.execute(insert(InboundActivity), [
                {"activity_id": f"https://r.example/{run}/{i}/{k}", "activity_type": "Create",
                 "actor_uri": "https://r.example/u", "key_id": "https://r.example/u#k",
                 "body": {"pad": "x" * 4000, "n": i}, "state": "done", "attempts": 1,
                 "next_attempt_at": now, "received_at": now}
                for k in range(4)
            ])
            await session.commit()
        print(i, flush=True)
        i += 1

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def _write_then_kill(url: str, run: str, commits: int) -> int:
    """Start the writer, SIGKILL it after ``commits`` reported commits; returns how many it reported."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, url, run, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    reported = 0
    while reported < commits:
        line = await asyncio.wait_for(child.stdout.readline(), timeout=60)
        assert line, (await child.stderr.read()).decode() if child.stderr else "writer exited"
        reported = int(line) + 1
    child.send_signal(signal.SIGKILL)
    rest, _ = await child.communicate()
    assert child.returncode == -signal.SIGKILL
    return reported + len(rest.split())


async def test_sigkill_mid_write__database_intact_and_commits_kept(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    url = f"sqlite+aiosqlite:///{path}"
    engine = make_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()

    reported = {run: await _write_then_kill(url, run, commits) for run, commits in (("a", 150), ("b", 60))}

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        for run, count in reported.items():
            stored = db.execute(
                "SELECT count(*) FROM inbound_activities WHERE activity_id LIKE ?", (f"https://r.example/{run}/%",)
            ).fetchone()[0]
            # Every reported commit is there, whole (4 rows each); one more may have committed unreported.
            assert stored % 4 == 0
            assert count * 4 <= stored <= (count + 1) * 4
