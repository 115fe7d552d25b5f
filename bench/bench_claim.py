"""What one claim of the inbox queue costs beside a history of done jobs and a backlog of queued ones.

Run from the repository root:

    python -m bench.bench_claim [--done 100000] [--queued 2000] [--claims 20] [--analyze]
    python -m bench.bench_claim --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench --analyze

A fresh database (SQLite in a temporary folder by default; with ``--database-url`` PostgreSQL, whose public
schema is dropped first) is migrated, then given ``--done`` done inbound activities and ``--queued`` queued
ones after them, due times one millisecond apart, the queued ones the newest (as a queue looks after a
day's traffic). ``--analyze`` gathers the planner's statistics first, as PostgreSQL's autovacuum does on a
running instance (SQLite keeps none unless ANALYZE runs, and nothing runs it). Then ``--claims`` claims of
64 (``queue.claim_ids`` with the inbox's attempts cap, each in its own transaction and committed), one after
another; the figure is the median time per claim. To compare with another checkout, run the same command
from its folder (``cd <old> && PYTHONPATH=<old> python -m bench.bench_claim …``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from fediserver import migrate
from fediserver.db import make_engine, session_factory
from fediserver.jobs import queue
from fediserver.models import InboundActivity

T0 = datetime(2026, 11, 1, tzinfo=UTC)
BATCH = 64
MAX_ATTEMPTS = 5


def rows(done: int, queued: int) -> list[dict[str, Any]]:
    return [
        {
            "activity_id": f"https://remote.example/activities/{i}", "activity_type": "Create",
            "actor_uri": f"https://remote.example/users/{i % 50}", "key_id": "https://remote.example/key",
            "body": {}, "state": "done" if i < done else "queued", "attempts": 1 if i < done else 0,
            "next_attempt_at": T0 + timedelta(milliseconds=i), "received_at": T0 + timedelta(milliseconds=i),
        }
        for i in range(done + queued)
    ]  # fmt: skip


async def bench(args: argparse.Namespace, url: str) -> list[float]:
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        every = rows(args.done, args.queued)
        async with sessions() as session:
            for start in range(0, len(every), 5000):
                await session.execute(insert(InboundActivity), every[start : start + 5000])
            await session.commit()
        if args.analyze:
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        now = T0 + timedelta(days=1)
        times = []
        for _ in range(args.claims):
            async with sessions() as session:
                started = time.perf_counter()
                claimed = await queue.claim_ids(
                    session, InboundActivity, now, timedelta(minutes=5), BATCH, max_attempts=MAX_ATTEMPTS
                )
                times.append(time.perf_counter() - started)
            if len(claimed) != min(BATCH, args.queued):
                raise RuntimeError(f"claimed {len(claimed)} jobs")
        return times
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--database-url", help="PostgreSQL URL (its public schema is dropped!); default SQLite")
    parser.add_argument("--done", type=int, default=100_000, help="done jobs, the oldest")
    parser.add_argument("--queued", type=int, default=2000, help="queued jobs, the newest")
    parser.add_argument("--claims", type=int, default=20, help="claims of 64 timed, one after another")
    parser.add_argument("--analyze", action="store_true", help="gather the planner's statistics first")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-claim-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        times = asyncio.run(bench(args, url))
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{database}, {args.done:,} done and {args.queued:,} queued inbound activities, statistics "
        f"{'gathered' if args.analyze else 'none'}: {args.claims} claims of {BATCH}, median "
        f"{statistics.median(times) * 1000:.1f} ms (min {min(times) * 1000:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
