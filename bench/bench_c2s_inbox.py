"""The C2S inbox page (``c2s.inbox_rule.inbox_page``, what ``GET /users/{u}/inbox?max_id=…`` runs) at any
depth of a large inbox (issue 11, point 3: keyset pages instead of the newest 5,000 rows filtered in Python).

Run from the repository root (so this checkout's code is imported):

    python -m bench.bench_c2s_inbox [--rows 60000] [--requests 200]
    python -m bench.bench_c2s_inbox --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_c2s_inbox

Seeds a migrated database (SQLite: a fresh file under the temporary directory; PostgreSQL: the database
named, emptied first) with ``--rows`` processed inbound activities, two in three delivered to the reader
and one in three to another user, mixed. Each request asks for one 20-item page: the first, or one whose
``max_id`` is a random row id. The baseline, timed on the same database in the same run, is one raw SQL
statement reading the reader's next 20 rows below the same ``max_id`` (``recipient_actor_id`` only, no
rule), so the ratio is the cost of the candidate search and the rule over the bare keyset read; a page
deep in the inbox costing what the first one costs shows the paging does not grow with depth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RAW_PAGE = (
    "SELECT id, body FROM inbound_activities WHERE recipient_actor_id = :reader AND id < :before "
    "ORDER BY id DESC LIMIT 20"
)


def _ms(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 3)


def summary(name: str, seconds: list[float]) -> dict[str, Any]:
    return {"case": name, "n": len(seconds), "p50_ms": _ms(seconds, 0.5), "p99_ms": _ms(seconds, 0.99)}


async def run(url: str, rows: int, requests: int) -> list[dict[str, Any]]:
    from sqlalchemy import insert, text

    from fediserver import accounts, migrate
    from fediserver.c2s.inbox_rule import inbox_page, reader_for
    from fediserver.db import make_engine, session_factory
    from fediserver.models import Base, InboundActivity, LocalActor, utcnow
    from fediserver.urls import Urls

    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    await migrate.upgrade(engine)
    urls = Urls(scheme="http", domain="bench.example")
    sessions = session_factory(engine)
    async with sessions() as session:
        reader = await accounts.create_user(session, "reader", "password-reader")
        other = await accounts.create_user(session, "other", "password-other")
        await session.commit()
        reader_id, other_id = reader.actor_id, other.actor_id
    now, x = utcnow(), "https://remote.example/users/x"
    started = time.perf_counter()
    for start in range(0, rows, 5000):
        batch = [
            {
                "activity_id": f"https://remote.example/activities/{n}",
                "activity_type": "Like",
                "actor_uri": x,
                "key_id": f"{x}#main-key",
                "recipient_actor_id": other_id if n % 3 == 2 else reader_id,
                "body": {"id": f"https://remote.example/activities/{n}", "type": "Like", "actor": x,
                         "object": "https://remote.example/notes/1"},
                "state": "done",
                "next_attempt_at": now,
                "received_at": now,
            }
            for n in range(start, min(rows, start + 5000))
        ]  # fmt: skip
        async with sessions() as session:
            await session.execute(insert(InboundActivity), batch)
            await session.commit()
    print(f"seeded {rows} rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
    rng = random.Random(1)
    cursors: list[int | None] = [None] * 50 + [rng.randint(100, rows) for _ in range(requests)]
    timed: dict[str, list[float]] = {"first page": [], "random depth": [], "raw SQL (same max_id)": []}
    async with sessions() as session:
        me = await session.get(LocalActor, reader_id)
        assert me is not None
        rule = await reader_for(session, me, urls)
        await inbox_page(session, rule, urls, None, 20)  # warm-up: connection, statement cache
        for before in cursors:
            began = time.perf_counter()
            page = await inbox_page(session, rule, urls, before, 20)
            timed["first page" if before is None else "random depth"].append(time.perf_counter() - began)
            assert len(page.items) == 20 or (before is not None and before < 40)
            if before is not None:
                began = time.perf_counter()
                await session.execute(text(RAW_PAGE), {"reader": reader_id, "before": before})
                timed["raw SQL (same max_id)"].append(time.perf_counter() - began)
    await engine.dispose()
    results = [summary(name, values) for name, values in timed.items()]
    first, deep, base = (statistics.median(timed[k]) for k in timed)
    results.append({"ratio_p50_random_depth_to_first_page": round(deep / first, 2)})
    results.append({"ratio_p50_random_depth_to_raw_sql": round(deep / base, 2)})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'c2s_inbox.sqlite'}"
    for line in asyncio.run(run(url, args.rows, args.requests)):
        print(json.dumps(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
