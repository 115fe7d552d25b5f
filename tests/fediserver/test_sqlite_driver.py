"""The SQLite driver (``fediserver.sqlite_driver``): one trip to the connection's thread per statement, and
everything SQLAlchemy reads of a cursor still right."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Integer, String, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fediserver.db import make_engine, session_factory


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "rows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(20), unique=True)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    yield engine
    await engine.dispose()


async def _trips(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch, sql: str) -> int:
    """How many functions a statement sends to aiosqlite's thread."""
    sent: list[object] = []
    original: Any = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: object, *args: object, **kwargs: object) -> object:
        sent.append(fn)
        return await original(self, fn, *args, **kwargs)

    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # the pool's connection and its pragmas, before counting
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
        try:
            await conn.execute(text(sql))
        finally:
            monkeypatch.undo()
    return len(sent)


async def test_driver__a_statement_is_one_trip_to_the_connections_thread(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await _trips(engine, monkeypatch, "SELECT name FROM rows") == 1
    # SQLAlchemy's own adapter, for comparison: a cursor, the statement, its rows and the close.
    stock = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    try:
        assert await _trips(stock, monkeypatch, "SELECT name FROM rows") == 4
    finally:
        await stock.dispose()


async def test_driver__rows_counts_and_ids_are_what_sqlite_reports(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as session:
        first = _Row(name="a")
        session.add(first)
        await session.flush()
        assert first.id == 1
        await session.execute(insert(_Row), [{"name": "b"}, {"name": "c"}])
        assert [r.name for r in await session.scalars(select(_Row).order_by(_Row.id))] == ["a", "b", "c"]
        changed = await session.execute(update(_Row).where(_Row.name != "a").values(name=func.upper(_Row.name)))
        assert changed.rowcount == 2  # type: ignore[attr-defined]
        gone = await session.execute(delete(_Row).where(_Row.name == "zzz"))
        assert gone.rowcount == 0  # type: ignore[attr-defined]
        assert (await session.execute(text("SELECT name, id FROM rows WHERE id = 3"))).one() == ("C", 3)
        await session.commit()
    async with sessions() as session:
        session.add(_Row(name="a"))
        with pytest.raises(IntegrityError):
            await session.flush()
        await session.rollback()
        assert await session.scalar(select(func.count()).select_from(_Row)) == 3


def _count_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions sent to aiosqlite's thread from now on."""
    sent: list[str] = []
    original: Any = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: object, **kwargs: object) -> object:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return sent


async def test_pool__a_committed_session_goes_back_without_a_rollback(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = session_factory(engine)
    async with sessions() as session:
        await session.execute(text("SELECT 1"))  # the pool's connection and its pragmas, before counting
    sent = _count_trips(monkeypatch)
    async with sessions() as session:
        session.add(_Row(name="a"))
        await session.commit()
        await session.execute(select(_Row.id))  # a read after the commit: no transaction in SQLite
    assert "rollback" not in sent
    assert sent.count("commit") == 1


async def test_pool__an_uncommitted_session_is_rolled_back_on_return(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = session_factory(engine)
    sent = _count_trips(monkeypatch)
    async with sessions() as session:
        session.add(_Row(name="left"))
        await session.flush()  # written, never committed
    assert sent.count("rollback") == 1
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        async with session_factory(other)() as session:
            # The write lock was released: another connection writes at once (the busy timeout is 10 s).
            await session.execute(text("PRAGMA busy_timeout=100"))
            session.add(_Row(name="other"))
            await session.commit()
            assert list(await session.scalars(select(_Row.name))) == ["other"]
    finally:
        await other.dispose()
