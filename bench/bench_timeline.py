"""The home timeline page (40 statuses with accounts, media, counts and the reader's own state) on a
timeline-shaped database: 100k posts by 1k accounts (issue 9: p99 under 20 ms; issue 10: over the API,
p99 under 50 ms on SQLite).

Run from the repository root (so this checkout's code is imported):

    python -m bench.bench_timeline [--posts 100000] [--accounts 1000] [--requests 400]
    python -m bench.bench_timeline --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
    python -m bench.bench_timeline --api [--posts 100000] [--accounts 1000] [--requests 400]

Domain mode times ``fediserver.domain.timelines.home`` plus ``Presenter.timeline`` (what the API route
runs, without HTTP) in this process, in wall time and in this process's CPU time (``cpu_p50_ms``).
``--api`` starts the server as ``scripts/serve`` does (``fediserver serve``: uvicorn, the same app
factory, the same logging, the in-process worker) on a free port and
times ``GET /api/v1/timelines/home?limit=40`` with a token over loopback HTTP. Both report the ratio to
one raw SQL statement reading the same page's note rows (no accounts, media or counts), timed on the
same database in the same run. Each request asks for a random page (``max_id`` somewhere in the seeded
time range). The seeded database is cached (SQLite: a file under the temporary directory; PostgreSQL: the
database named, seeded once), so a second run starts at once. ``--explain`` prints the page's plan.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RAW_PAGE = (
    "SELECT n.id, n.uri, n.content, n.published_at FROM notes n WHERE n.deleted_at IS NULL AND "
    "n.attributed_to IN (SELECT f.followed_uri FROM follows f WHERE f.follower_uri = {p} AND "
    "f.state = 'accepted') AND n.published_at < {p} ORDER BY n.published_at DESC LIMIT 40"
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summary(name: str, seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "case": name,
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
    }


async def ensure_seeded(url: str, posts: int, accounts: int, domain: str) -> None:
    from bench.timeline_seed import Shape, seed, seeded
    from fediserver import migrate
    from fediserver.db import make_engine, session_factory
    from fediserver.urls import Urls

    engine = make_engine(url)
    try:
        await migrate.upgrade(engine)
        async with session_factory(engine)() as session:
            if await seeded(session):
                return
            started = time.perf_counter()
            await seed(session, Urls(scheme="http", domain=domain), Shape(accounts=accounts, posts=posts))
            await session.commit()
            print(
                f"seeded {posts} posts by {accounts} accounts in {time.perf_counter() - started:.1f} s", file=sys.stderr
            )
        if engine.dialect.name == "postgresql":
            # What autovacuum does after a bulk load, at once: statistics for the planner, and the dead row
            # versions gone that 100k counter updates (account_stats, migration 0023) left behind.
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        await engine.dispose()


def random_max_id(rng: random.Random, posts: int) -> str:
    from datetime import timedelta

    from bench.timeline_seed import START
    from fediserver.mastodon.ids import snowflake

    return snowflake(START + timedelta(seconds=rng.randrange(posts // 10, posts + 1)), 0)


async def domain_run(url: str, posts: int, requests: int, explain: bool) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from bench.timeline_seed import READER
    from fediserver.db import make_engine, session_factory
    from fediserver.domain import timelines
    from fediserver.mastodon import ids
    from fediserver.mastodon.pagination import Page
    from fediserver.mastodon.present import Presenter
    from fediserver.models import LocalActor
    from fediserver.urls import Urls

    urls = Urls(scheme="http", domain="127.0.0.1:8000")
    engine = make_engine(url)
    rng = random.Random(9)
    page_times: list[float] = []
    # This process's CPU time per page, its SQLite thread included (not PostgreSQL's server): on a shared
    # machine it moves less with the load than the wall time does.
    page_cpu: list[float] = []
    raw_times: list[float] = []
    placeholder = "?" if engine.dialect.name == "sqlite" else "$1"
    raw = RAW_PAGE.replace("{p}", placeholder, 1).replace("{p}", "?" if placeholder == "?" else "$2")
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            me = await session.scalar(select(LocalActor).where(LocalActor.username == READER))
            assert me is not None
        reader = timelines.Reader(actor=me, uri=urls.actor(READER))
        # As `fediserver serve` does before serving: what start-up left stays out of the collector's scans.
        gc.collect()
        gc.freeze()
        for i in range(requests):
            sid = ids.Snowflake.parse(random_max_id(rng, posts))
            window = Page(max_id=sid, since_id=None, min_id=None, limit=40)
            async with sessions() as session:
                started, cpu = time.perf_counter(), time.process_time()
                entries = await timelines.home(session, reader, window)
                body = await Presenter(session, urls, reader.uri, me).timeline(entries)
                page_times.append(time.perf_counter() - started)
                page_cpu.append(time.process_time() - cpu)
                assert len(body) == 40, len(body)
                assert sid is not None
                async with engine.connect() as conn:
                    at: Any = sid.start
                    if engine.dialect.name == "sqlite":
                        at = sid.start.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
                    started = time.perf_counter()
                    rows = (await conn.exec_driver_sql(raw, (reader.uri, at))).all()
                    raw_times.append(time.perf_counter() - started)
                    assert rows
            if explain and i == 0:
                await print_plan(engine, sessions, reader, window)
    finally:
        await engine.dispose()
    page, baseline = summary("domain home page", page_times), summary("raw SQL page", raw_times)
    page["ratio_p99"] = round(page["p99_ms"] / baseline["p99_ms"], 2)
    cpu_summary = summary("", page_cpu)
    page["cpu_p50_ms"], page["cpu_p99_ms"] = cpu_summary["p50_ms"], cpu_summary["p99_ms"]
    return [page, baseline]


async def print_plan(engine: Any, sessions: Any, reader: Any, window: Any) -> None:
    from sqlalchemy import event

    from fediserver.domain import timelines

    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", keep)
    async with sessions() as session:
        await timelines.home(session, reader, window)
    event.remove(engine.sync_engine, "before_cursor_execute", keep)
    statement, parameters = seen[0]
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    async with engine.connect() as conn:
        for row in await conn.exec_driver_sql(prefix + statement, parameters):
            print(row[-1] if engine.dialect.name == "sqlite" else row[0], file=sys.stderr)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def api_run(posts: int, accounts: int, requests: int, port: int) -> list[dict[str, Any]]:
    import httpx

    folder = Path(tempfile.gettempdir()) / f"fediserver-bench-api-{posts}-{accounts}"
    folder.mkdir(exist_ok=True)
    config = folder / "fediserver.toml"
    # One client asks --requests pages: past the default 300 per window it would time 429s. The limiter
    # still counts every request.
    env = {**os.environ, "FEDISERVER_CONFIG": str(config), "FEDISERVER_API_RATE_LIMIT_REQUESTS": "1000000000"}
    exe = str(Path(sys.executable).parent / "fediserver")
    # The seeded rows carry the instance's URLs, port included: a cached database keeps its port.
    port_file = folder / "port"
    if port_file.exists():
        port = int(port_file.read_text())
    else:
        port = port or free_port()
        port_file.write_text(str(port))
    if not config.exists():
        subprocess.run(
            [
                exe,
                "init",
                "--domain",
                f"127.0.0.1:{port}",
                "--scheme",
                "http",
                "--data-dir",
                str(folder / "data"),
                "--force",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
    from fediserver.config import load_config

    url = load_config(config, environ={}).database_url
    (folder / "data").mkdir(exist_ok=True)
    subprocess.run([exe, "migrate"], env=env, check=True, capture_output=True)
    asyncio.run(ensure_seeded(url, posts, accounts, f"127.0.0.1:{port}"))
    made = subprocess.run(
        [exe, "token", "create", "reader", "--scopes", "read"], env=env, check=True, capture_output=True, text=True
    )
    token = made.stdout.strip().splitlines()[-1]
    server = subprocess.Popen(
        [exe, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    rng = random.Random(10)
    api_times: list[float] = []
    raw_times: list[float] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(300):
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("the server did not start")
            database = url.split("///", 1)[1]
            raw_conn = sqlite3.connect(database)
            seeded_reader = raw_conn.execute("SELECT follower_uri FROM follows LIMIT 1").fetchone()[0]
            raw = RAW_PAGE.replace("{p}", "?")
            for _ in range(requests):
                max_id = random_max_id(rng, posts)
                started = time.perf_counter()
                response = http.get("/api/v1/timelines/home", params={"limit": 40, "max_id": max_id})
                api_times.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
                assert len(response.json()) == 40
                at = (int(max_id) >> 16) / 1000
                from datetime import UTC, datetime

                moment = datetime.fromtimestamp(at, UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
                started = time.perf_counter()
                rows = raw_conn.execute(raw, (seeded_reader, moment)).fetchall()
                raw_times.append(time.perf_counter() - started)
                assert rows
            raw_conn.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    api, baseline = summary("API GET /api/v1/timelines/home?limit=40", api_times), summary("raw SQL page", raw_times)
    api["ratio_p99"] = round(api["p99_ms"] / baseline["p99_ms"], 2)
    return [api, baseline]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--database-url", help="default: a cached SQLite file under the temporary directory")
    parser.add_argument("--api", action="store_true", help="time the API over HTTP against `fediserver serve`")
    parser.add_argument("--port", type=int, default=0, help="--api: the port (default: a free one, kept)")
    parser.add_argument("--explain", action="store_true", help="print the home page's query plan")
    args = parser.parse_args()
    if args.api:
        results = api_run(args.posts, args.accounts, args.requests, args.port)
    else:
        cached = Path(tempfile.gettempdir()) / f"fediserver-bench-timeline-{args.posts}-{args.accounts}.sqlite"
        url = args.database_url or f"sqlite+aiosqlite:///{cached}"
        asyncio.run(ensure_seeded(url, args.posts, args.accounts, "127.0.0.1:8000"))
        results = asyncio.run(domain_run(url, args.posts, args.requests, args.explain))
    print(json.dumps({"posts": args.posts, "accounts": args.accounts, "results": results}, indent=2))


if __name__ == "__main__":
    main()
