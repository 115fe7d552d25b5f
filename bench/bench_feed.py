"""The web UI's feed page: 40 posts rendered as HTML, against the same 40 posts as JSON, on SQLite with
100k posts (issue 12: under 30 ms p99, server time).

Run from the repository root (so this checkout's code is imported):

    python -m bench.bench_feed [--posts 100000] [--requests 400] [--rounds 3] [--signed-in]

One migrated SQLite database gets ``--posts`` public notes by one local user (every fourth with an image
and a blurhash, every tenth with a content warning). The app runs in this process behind httpx's ASGI
transport, so the time measured is the server's: routing, queries, rendering, no sockets. Each request
asks for a random page (``?before=<random id>``), so the same rows are not served twice in a row. The
baseline is a route added for the benchmark that runs the same feed query and the same attachment and
generation look-ups and answers the notes as their ActivityStreams JSON (``note_to_as``), the shape the
API serves. Requests alternate between the two; figures are medians over rounds of each round's p50
and p99. With ``--signed-in`` a third client, logged in as the author, asks for the same pages as well
(``member``): the page a member sees, with the action buttons, like and boost state and the nav's unread
badge. Results are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SECRET = "bench-feed-secret-0123456789abcdefghijklmnop"
PAGE = 40
TEXT = (
    "<p>Evening light over the harbour, the third try with this prompt. The seed that worked best is in "
    'the parameters. <a href="https://example.com/x" rel="nofollow noopener">example.com/x</a></p>'
)


def settings_for(folder: Path) -> Any:
    from fediserver.config import parse_settings

    raw = {
        "instance": {"domain": "127.0.0.1:8000", "scheme": "http", "secret_key": SECRET, "registration": "open"},
        "database": {"url": f"sqlite+aiosqlite:///{folder / 'db.sqlite'}"},
        "media": {"directory": str(folder / "media")},
    }
    return parse_settings(raw, {}, folder)


async def prepare(settings: Any, posts: int) -> None:
    from fediserver import accounts, migrate
    from fediserver.db import make_engine, session_factory
    from fediserver.models import MediaAttachment, Note
    from fediserver.urls import Urls

    urls = Urls.from_settings(settings)
    engine = make_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        async with session_factory(engine)() as session:
            user = await accounts.create_user(session, "alice", "password-alice-123", display_name="Alice")
            actor_id, author = user.actor.id, urls.actor("alice")
            await session.commit()
            start = datetime(2026, 1, 1, tzinfo=UTC)
            for base in range(0, posts, 5000):
                rows = [
                    {
                        "uri": urls.note(f"bench{i:08d}"),
                        "url": urls.note(f"bench{i:08d}"),
                        "local_actor_id": actor_id,
                        "attributed_to": author,
                        "content": TEXT,
                        "source_text": "Evening light",
                        "summary": "eye strain" if i % 10 == 0 else None,
                        "sensitive": i % 10 == 0,
                        "visibility": "public",
                        "to": ["https://www.w3.org/ns/activitystreams#Public"],
                        "cc": [urls.followers("alice")],
                        "published_at": start + timedelta(seconds=i),
                    }
                    for i in range(base, min(base + 5000, posts))
                ]
                await session.execute(insert(Note), rows)
                await session.commit()
            ids = list(await session.scalars(select(Note.id).order_by(Note.id)))
            for base in range(0, len(ids), 20000):
                media = [
                    {
                        "note_id": note_id,
                        "local_actor_id": actor_id,
                        "storage_key": f"ab/{note_id:064d}.webp",
                        "media_type": "image/webp",
                        "width": 512,
                        "height": 512,
                        "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
                        "description": "A harbour at dusk",
                    }
                    for note_id in ids[base : base + 20000]
                    if note_id % 4 == 0
                ]
                await session.execute(insert(MediaAttachment), media)
                await session.commit()
    finally:
        await engine.dispose()


async def feed_json(request: Request) -> Response:
    """The baseline: the same page of notes, with the same look-ups, as ActivityStreams JSON."""
    from fediserver.federation.render import note_to_as
    from fediserver.notes import attachments_by_note, generations_by_note
    from fediserver.web import actions

    raw = request.query_params.get("before")
    urls = request.app.state.urls
    async with request.app.state.sessions() as session:
        notes = await actions.local_feed(session, before=int(raw) if raw else None)
        media = await attachments_by_note(session, [n.id for n in notes])
        generations = await generations_by_note(session, notes)
    return JSONResponse([note_to_as(n, urls, media.get(n.id, []), generations.get(n.id)) for n in notes])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _signed_in(client: httpx.AsyncClient) -> None:
    import re

    form = (await client.get("/login")).text
    match = re.search(r'name="csrf" value="([^"]+)"', form)
    assert match, "the log-in form has a CSRF token"
    data = {"username": "alice", "password": "password-alice-123", "csrf": match.group(1), "next": "/"}
    assert (await client.post("/login", data=data)).status_code == 303


async def run(posts: int, requests: int, rounds: int, signed_in: bool = False) -> dict[str, Any]:
    from fediserver.app import AppOptions, create_app
    from fediserver.web import actions

    assert actions.FEED_SIZE == PAGE
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp))
        began = time.perf_counter()
        await prepare(settings, posts)
        print(f"prepared {posts} posts in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        app = create_app(settings, AppOptions(run_worker=False))
        app.router.routes.append(Route("/bench/local.json", feed_json))
        kinds = ["html", "json", "member"] if signed_in else ["html", "json"]
        results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
        # As `fediserver serve` does before it serves: what start-up left stays out of the collector's scans.
        gc.collect()
        gc.freeze()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            base = "http://127.0.0.1:8000"
            async with (
                httpx.AsyncClient(transport=transport, base_url=base) as client,
                httpx.AsyncClient(transport=transport, base_url=base) as member,
            ):
                check = await client.get("/local")
                assert check.status_code == 200
                assert check.text.count('class="post"') == PAGE, "the HTML page holds 40 posts"
                assert len((await client.get("/bench/local.json")).json()) == PAGE
                if signed_in:
                    await _signed_in(member)
                    assert 'id="unread-count"' in (await member.get("/local")).text, "the member's page"
                clients = {"html": client, "json": client, "member": member}
                paths = {"html": "/local", "json": "/bench/local.json", "member": "/local"}
                rng = random.Random(1)
                for _ in range(rounds):
                    times: dict[str, list[float]] = {kind: [] for kind in kinds}
                    for _ in range(requests):
                        before = rng.randrange(PAGE + 1, posts)
                        for kind in kinds:
                            t0 = time.perf_counter()
                            response = await clients[kind].get(paths[kind], params={"before": before})
                            times[kind].append((time.perf_counter() - t0) * 1000)
                            assert response.status_code == 200
                    for kind, values in times.items():
                        results[kind].append({"p50": percentile(values, 0.5), "p99": percentile(values, 0.99)})
    summary = {
        kind: {stat: statistics.median(r[stat] for r in rounds_) for stat in ("p50", "p99")}
        for kind, rounds_ in results.items()
    }
    out: dict[str, Any] = {
        "posts": posts,
        "requests_per_round": requests,
        "rounds": rounds,
        "html_ms": summary["html"],
        "json_ms": summary["json"],
        "ratio_p50": summary["html"]["p50"] / summary["json"]["p50"],
        "ratio_p99": summary["html"]["p99"] / summary["json"]["p99"],
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if signed_in:
        out["member_ms"] = summary["member"]
        out["member_ratio_p50"] = summary["member"]["p50"] / summary["json"]["p50"]
        out["member_ratio_p99"] = summary["member"]["p99"] / summary["json"]["p99"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--signed-in", action="store_true", help="also time the page a logged-in member sees")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.posts, args.requests, args.rounds, args.signed_in)), indent=2))


if __name__ == "__main__":
    main()
