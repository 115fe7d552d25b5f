"""Post text rendering: a 500-character post with 5 mentions and 5 hashtags, mentions already cached.

Run from the repository root: `python bench/bench_text.py [rounds]`.

Measures, single-threaded, the median and p99 of:
* render: entity extraction and Mastodon's HTML (``fediserver.text``), mentions given resolved;
* compose: the same plus resolving the 5 mentions from the ``account_handles`` cache in a migrated
  SQLite database (two queries), which is what ``domain.posts.publish_post`` does before rendering;
* baseline: the formatter this replaced (escape, paragraphs, a regex linkifier, no mentions or tags),
  on the same text in the same run.
Results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import html
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

HOSTS = [f"host{i}.example" for i in range(5)]
TEXT = (
    "Morning walk by the river, the light was unreal today. Tagging the people who asked for it: "
    + " ".join(f"@user{i}@{host}" for i, host in enumerate(HOSTS))
    + ".\nMade the print with the new model, seed 1234, 30 steps; details at https://example.com/gallery/2026/11/walk"
    + "\n\nMore soon, and thanks for all the kind words on the last one! The next series will be longer, with"
    + " prints of each at the market on Saturday. If you want one, write to me before Friday evening, please; I will"
    + " bring twenty of them, framed. "
    + " ".join(f"#{tag}" for tag in ("photography", "river", "AIart", "morning", "日本"))
)


def old_text_to_html(text: str) -> str:
    """The formatter before Mastodon's rules (fediserver/posting.py at d2d8ff1), the baseline."""
    url_re = re.compile(r"https?://[^\s<>\"']+")

    def linkify(escaped: str) -> str:
        return url_re.sub(lambda m: f'<a href="{m[0]}" rel="nofollow noopener" target="_blank">{m[0]}</a>', escaped)

    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(
        "<p>" + "<br>".join(linkify(html.escape(line, quote=True)) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def _times(fn: Callable[[], object], rounds: int) -> list[float]:
    for _ in range(min(200, rounds)):
        fn()
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


async def _atimes(fn: Callable[[], Awaitable[object]], rounds: int) -> list[float]:
    for _ in range(min(50, rounds)):
        await fn()
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - start)
    return out


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[int(len(ordered) * 0.99) - 1] * 1e3


async def main(rounds: int) -> int:
    from fediserver import migrate
    from fediserver.app import build_http_client
    from fediserver.config import parse_settings
    from fediserver.db import make_engine, session_factory
    from fediserver.domain.mentions import resolve_mentions
    from fediserver.federation.context import Federation
    from fediserver.models import AccountHandle, RemoteActor
    from fediserver.text.entities import extract
    from fediserver.text.formatter import render
    from fediserver.text.length import post_length
    from fediserver.urls import Urls

    length = post_length(TEXT)
    assert 490 <= length <= 500, length
    folder = Path(tempfile.mkdtemp(prefix="bench-text-"))
    settings = parse_settings(
        {
            "instance": {"domain": "social.example", "secret_key": "x" * 40},
            "database": {"url": f"sqlite+aiosqlite:///{folder / 'db.sqlite'}"},
            "media": {"directory": str(folder / "media")},
        },
        {},
        folder,
    )
    engine = make_engine(settings.database_url)
    await migrate.upgrade(engine)
    sessions = session_factory(engine)
    urls = Urls.from_settings(settings)
    now = datetime.now(UTC)
    async with sessions() as session:
        for i, host in enumerate(HOSTS):
            uri = f"https://{host}/users/user{i}"
            session.add(
                RemoteActor(
                    uri=uri, domain=host, preferred_username=f"user{i}", inbox=f"{uri}/inbox", raw={},
                    url=f"https://{host}/@user{i}",
                )
            )  # fmt: skip
            session.add(AccountHandle(acct=f"user{i}@{host}", actor_uri=uri, resolved_at=now))
        await session.commit()

    async with build_http_client(settings) as http, sessions() as session:
        fed = Federation(settings=settings, urls=urls, http=http)
        entities = extract(TEXT)
        accounts = await resolve_mentions(fed, session, entities)
        rendered = render(TEXT, accounts, urls.tag, local_domain=urls.domain)
        assert len(rendered.mentions) == 5
        assert len(rendered.hashtags) == 5

        def render_only() -> object:
            return render(TEXT, accounts, urls.tag, local_domain=urls.domain)

        async def compose() -> object:
            found = extract(TEXT)
            resolved = await resolve_mentions(fed, session, found)
            return render(TEXT, resolved, urls.tag, local_domain=urls.domain, entities=found)

        base = _times(lambda: old_text_to_html(TEXT), rounds)
        ours = _times(render_only, rounds)
        full = await _atimes(compose, max(rounds // 10, 100))
    await engine.dispose()

    print(f"python {platform.python_version()}, {platform.machine()}; {length} characters, {rounds} rounds")
    rows = [("baseline (old formatter)", base), ("render (extract + HTML)", ours), ("compose (+ cached lookup)", full)]
    for name, samples in rows:
        median, p99 = _stats(samples)
        print(f"{name:28} median {median:.3f} ms  p99 {p99:.3f} ms")
    print(f"render / baseline (medians): {statistics.median(ours) / statistics.median(base):.1f}x")
    print(f"compose / baseline (medians): {statistics.median(full) / statistics.median(base):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)))
