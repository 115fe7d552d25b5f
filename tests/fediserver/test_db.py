"""Database set-up: SQLite pragmas, aware UTC datetimes, the instance actor, addressing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from activitypub import PUBLIC
from fediserver import accounts
from fediserver.db import make_engine, reading_alone
from fediserver.domain.posts import addressing
from fediserver.models import DeliveryJob, LocalActor, Note
from tests.statements import recorded


async def test_sqlite__wal_busy_timeout_and_foreign_keys(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10000
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_foreign_keys__are_enforced(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime.now(UTC)
    async with sessions() as session:
        session.add(
            DeliveryJob(
                activity_id="a",
                inbox_url="https://x.example/inbox",
                host="x.example",
                signer_actor_id=12345,
                body="{}",
                state="queued",
                next_attempt_at=now,
                give_up_at=now,
            )
        )
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_datetimes__come_back_aware_utc(sessions: async_sessionmaker[AsyncSession]) -> None:
    eastern = timezone(timedelta(hours=-5))
    published = datetime(2026, 1, 2, 3, 4, 5, tzinfo=eastern)
    async with sessions() as session:
        actor = await accounts.ensure_instance_actor(session)
        session.add(Note(uri="https://a.example/n/1", attributed_to="https://a.example/u", published_at=published))
        await session.commit()
        del actor
    async with sessions() as session:
        note = await session.scalar(select(Note))
        assert note is not None
        assert note.published_at == published
        assert note.published_at.tzinfo == UTC


async def test_naive_datetimes__are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        session.add(Note(uri="u", attributed_to="a", published_at=datetime(2026, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            await session.commit()


async def test_instance_actor__is_created_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        first = await accounts.ensure_instance_actor(session)
        second = await accounts.ensure_instance_actor(session)
        await session.commit()
        count = await session.scalar(select(func.count()).select_from(LocalActor))
    assert first.id == second.id
    assert count == 1
    assert first.actor_type == "Application"
    assert "BEGIN PUBLIC KEY" in first.public_key_pem


@pytest.mark.parametrize(
    ("visibility", "to", "cc"),
    [
        ("public", [PUBLIC], ["F", "M"]),
        ("unlisted", ["F"], [PUBLIC, "M"]),
        ("followers", ["F"], ["M"]),
        ("direct", ["M"], []),
    ],
)
def test_addressing__matches_how_mastodon_reads_visibility(visibility: str, to: list[str], cc: list[str]) -> None:
    result = addressing(visibility, "F", ["M"])
    assert (result.to, result.cc) == (to, cc)


@pytest.mark.parametrize(("pool_size", "kept"), [(20, True), (5, False)])
async def test_pool__keeps_as_many_connections_as_configured(database_url: str, pool_size: int, kept: bool) -> None:
    """Twelve sessions at once, three times over (a worker's lanes and deliveries): with ``database.pool_size``
    above twelve the same twelve connections serve every round; with the pool's old default of five, most
    rounds open (and close) connections again."""
    from sqlalchemy import event

    from fediserver.db import make_engine

    engine = make_engine(database_url, pool_size=pool_size)
    opened: list[int] = []
    event.listen(engine.sync_engine, "connect", lambda *_: opened.append(1))

    async def use() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)  # all twelve are checked out at once

    try:
        for _ in range(3):
            await asyncio.gather(*(use() for _ in range(12)))
    finally:
        await engine.dispose()
    assert (len(opened) == 12) is kept, len(opened)


async def _terminate(database_url: str, pid: int) -> None:
    """End PostgreSQL backend ``pid`` from another connection, as a server restart would, and wait for it."""
    other = make_engine(database_url, pool_size=1)
    try:
        async with other.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"
            for _ in range(1000):
                # pg_stat_activity is a snapshot taken once per transaction (PostgreSQL
                # manual, "Viewing Statistics"): without clearing it, a first look that
                # still saw the backend would see it until the transaction ends.
                await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
                if not await conn.scalar(text(alive), {"pid": pid}):
                    return
                await asyncio.sleep(0.01)
        raise AssertionError(f"backend {pid} still runs after 10 s")
    finally:
        await other.dispose()


async def _dead_pooled_connection(database_url: str, ping_after_idle: float) -> AsyncEngine:
    """An engine whose one pooled connection's server process has ended."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the idle test is PostgreSQL's")
    engine = make_engine(database_url, pool_size=1, ping_after_idle=ping_after_idle)
    async with engine.connect() as conn:
        pid = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)
    await _terminate(database_url, pid)
    return engine


async def test_postgresql_pool__replaces_a_connection_that_died_while_idle(database_url: str) -> None:
    engine = await _dead_pooled_connection(database_url, ping_after_idle=0.0)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


async def test_postgresql_pool__a_dead_connection_not_yet_idle_long_fails_its_next_statement_once(
    database_url: str,
) -> None:
    engine = await _dead_pooled_connection(database_url, ping_after_idle=3600.0)
    try:
        with pytest.raises(DBAPIError):
            async with engine.connect() as conn:
                await conn.scalar(text("SELECT 1"))
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


async def test_postgresql_pool__connections_in_use_are_not_pinged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the idle test is PostgreSQL's")
    engine = make_engine(database_url, pool_size=1)
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(connection: Any) -> bool:
        pings.append(connection)
        return ping(connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        for _ in range(5):
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT 1")) == 1
        assert pings == []
    finally:
        await engine.dispose()


async def _transaction_ids(sessions: async_sessionmaker[AsyncSession], alone: bool) -> set[int]:
    """The transaction each of two statements of one session ran in."""
    async with sessions() as session:
        if alone:
            await reading_alone(session)
        return {int(await session.scalar(text("SELECT txid_current()")) or 0) for _ in range(2)}


async def test_reading_alone__each_statement_is_its_own_transaction_until_the_connection_returns(
    database_url: str,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite sessions begin as usual")
    engine = make_engine(database_url, pool_size=1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        assert len(await _transaction_ids(sessions, alone=True)) == 2
        # The same pooled connection, back to one transaction per session.
        assert len(await _transaction_ids(sessions, alone=False)) == 1
    finally:
        await engine.dispose()


async def test_postgresql__rows_inserted_together_go_as_one_statement(database_url: str) -> None:
    """Not asyncpg's executemany, which PostgreSQL runs as one statement per row (and fires statement
    triggers per row)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite sends a run of rows in one trip already (fediserver.sqlite_driver)")
    engine = make_engine(database_url, pool_size=1)
    table = Table("rows_together", MetaData(), Column("id", Integer, primary_key=True), Column("v", String(10)))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            with recorded(engine) as sent:
                await conn.execute(insert(table), [{"id": n, "v": str(n)} for n in range(5)])
            assert await conn.scalar(text("SELECT count(*) FROM rows_together")) == 5
            await conn.run_sync(table.metadata.drop_all)
    finally:
        await engine.dispose()
    # (SQLAlchemy's ``executemany`` flag stays true: it is the statement sent that differs.)
    [sql] = sent
    assert sql.count("), (") == 4, sql
