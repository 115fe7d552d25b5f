"""The timeline statements use the indexes of migration 0016 (EXPLAIN on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.timeline_seed import READER, Shape, seed
from fediserver import migrate
from fediserver.db import make_engine, session_factory
from fediserver.domain import timelines
from fediserver.mastodon.pagination import Page
from fediserver.models import LocalActor
from fediserver.urls import Urls

URLS = Urls(scheme="http", domain="127.0.0.1:8000")
PAGE = Page(max_id=None, since_id=None, min_id=None, limit=40)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    async with session_factory(engine)() as session:
        await seed(session, URLS, Shape(accounts=20, posts=300, followed=5))
        await session.commit()
    yield engine
    await engine.dispose()


async def _plan(engine: AsyncEngine, which: str) -> str:
    """The query plan of the statement that selects a page of timeline ``which``, as text."""
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        seen.append((statement, parameters))

    async with session_factory(engine)() as session:
        me = await session.scalar(select(LocalActor).where(LocalActor.username == READER))
        assert me is not None
        reader = timelines.Reader(actor=me, uri=URLS.actor(READER))
        event.listen(engine.sync_engine, "before_cursor_execute", keep)
        try:
            if which == "home":
                await timelines.home(session, reader, PAGE)
            else:
                await timelines.account(session, reader, URLS.actor("local1"), PAGE)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", keep)
    [(statement, parameters)] = seen
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(row[-1]) for row in rows)
        # A few hundred rows fit a page or two: make the planner show what it does once they do not.
        await conn.exec_driver_sql("ANALYZE")
        await conn.exec_driver_sql("SET enable_seqscan = off")
        rows = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(str(row[0]) for row in rows)


def _check(engine: AsyncEngine, plan: str, *indexes: str) -> None:
    """SQLite's planner is rule-based: it names the index it uses. PostgreSQL's weighs statistics, which on
    a few hundred rows may prefer another index (``bench/bench_timeline.py --explain`` shows the plan on
    100k posts); with sequential scans off, a scan of a table no index serves still shows as ``Seq Scan``."""
    if engine.dialect.name == "sqlite":
        for index in indexes:
            assert index in plan, plan
        assert "SCAN notes" not in plan.replace("SCAN notes USING", ""), plan
    else:
        assert "Seq Scan" not in plan, plan


async def test_home__reads_boosts_and_mentions_through_their_indexes(db: AsyncEngine) -> None:
    plan = await _plan(db, "home")
    _check(
        db, plan, "ix_announces_actor_created", "ix_notifications_recipient_type_subject", "ix_notes_author_published"
    )


async def test_account__reads_the_authors_posts_by_time_through_its_index(db: AsyncEngine) -> None:
    plan = await _plan(db, "account")
    _check(db, plan, "ix_notes_author_published")
