"""What PostgreSQL spends on a batch's rows inserted together: one multi-row INSERT against asyncpg's executemany.

Run from the repository root:

    python -m bench.bench_insert_rows --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

The database's public schema is dropped and migrated afresh. Then, in turns, ``--batches`` batches of
``--rows`` remote posts (1 KB of text each, from eight authors, so that the ``account_stats`` trigger has
work as it has in a drain) are inserted through ``make_engine``'s engine as the inbox worker inserts a
batch's notes, one transaction per batch, once as one multi-row INSERT (what ``make_engine`` does) and once
through asyncpg's executemany (SQLAlchemy's default for the asyncpg dialect), ``--turns`` times each. The
figures per row: wall time, the PostgreSQL backend's CPU (``/proc/<pid>/stat`` of ``pg_backend_pid()``: the
server must run on this machine), and this process's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text

from bench.bench_inbox_deployed import cpu_seconds, reset_postgres
from fediserver import migrate
from fediserver.db import make_engine
from fediserver.models import Note

PUBLISHED = datetime(2026, 11, 25, tzinfo=UTC)


def rows(first: int, count: int) -> list[dict[str, Any]]:
    text_ = "<p>benchmark post " * 60 + "</p>"
    return [
        {
            "id": first + n, "uri": f"https://peer.example/notes/{first + n}",
            "attributed_to": f"https://peer.example/users/u{n % 8}", "content": text_, "visibility": "public",
            "published_at": PUBLISHED,
        }
        for n in range(count)
    ]  # fmt: skip


async def turn(url: str, multi_row: bool, first: int, args: argparse.Namespace) -> tuple[float, float, float]:
    """Seconds per row: wall, the backend's CPU, this process's CPU."""
    engine = make_engine(url, pool_size=1)
    engine.dialect.use_insertmanyvalues_wo_returning = multi_row
    try:
        async with engine.connect() as conn:
            pid = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)
            await conn.commit()
            backend, wall, own = cpu_seconds(pid), time.perf_counter(), time.process_time()
            for batch in range(args.batches):
                await conn.execute(insert(Note), rows(first + batch * args.rows, args.rows))
                await conn.commit()
            count = args.batches * args.rows
            return (
                (time.perf_counter() - wall) / count,
                (cpu_seconds(pid) - backend) / count,
                (time.process_time() - own) / count,
            )
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> int:
    await reset_postgres(args.database_url)
    engine = make_engine(args.database_url)
    await migrate.upgrade(engine)
    await engine.dispose()
    results: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    first = 1
    for _ in range(args.turns):
        for multi_row in (True, False):
            results[multi_row].append(await turn(args.database_url, multi_row, first, args))
            first += args.batches * args.rows
    print(f"PostgreSQL, {args.rows} notes a batch, {args.batches} batches a turn, medians of {args.turns} turns")
    print("| insert | wall per row | PostgreSQL CPU per row | client CPU per row |")
    print("|---|---|---|---|")
    for multi_row, label in ((True, "one multi-row INSERT"), (False, "asyncpg executemany")):
        wall, backend, own = (statistics.median(r[i] for r in results[multi_row]) * 1e6 for i in range(3))
        print(f"| {label} | {wall:,.1f} us | {backend:,.1f} us | {own:,.1f} us |")
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a postgresql+asyncpg URL (its schema is dropped)")
    parser.add_argument("--rows", type=int, default=64, help="notes a batch (the inbox worker's batch size)")
    parser.add_argument("--batches", type=int, default=60, help="batches a turn")
    parser.add_argument("--turns", type=int, default=3, help="turns of each way")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
