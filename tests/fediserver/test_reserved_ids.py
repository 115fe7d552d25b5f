"""Note ids handed out before the INSERT (``domain.ids``): the ids the database would pick, never one it
picks as well, only where that is safe, and a transaction's new notes written in one statement."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver.db import begin_writing, session_factory
from fediserver.domain.ids import expect_rows, reserve_id
from fediserver.models import Note
from tests.statements import recorded

AUTHOR = "https://remote.example/users/bob"
Sessions = async_sessionmaker[AsyncSession]


def _note(n: int) -> Note:
    return Note(uri=f"{AUTHOR}/notes/{n}", attributed_to=AUTHOR, content=f"<p>{n}</p>")


async def _add_reserved(session: AsyncSession, n: int) -> Note:
    """A new note with a reserved id, pending in ``session``."""
    note = _note(n)
    reserved = await reserve_id(session, Note)
    assert reserved is not None
    note.id = reserved
    session.add(note)
    return note


async def _existing(sessions: Sessions, count: int) -> list[int]:
    """``count`` notes stored the ordinary way; their ids."""
    async with sessions() as session:
        notes = [_note(1000 + n) for n in range(count)]
        session.add_all(notes)
        await session.commit()
        return [note.id for note in notes]


async def _ids(sessions: Sessions) -> list[tuple[int, str]]:
    async with sessions() as session:
        return [(i, uri) for i, uri in await session.execute(select(Note.id, Note.uri).order_by(Note.id))]


async def test_reserved_ids__follow_the_stored_ones_and_the_notes_go_in_one_insert(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    before = await _existing(sessions, 2)
    with recorded(db) as seen:
        async with sessions() as session:
            await begin_writing(session)
            notes = [await _add_reserved(session, n) for n in range(5)]
            await session.commit()
    ids = [note.id for note in notes]
    assert ids == sorted(set(ids))
    assert ids[0] > max(before)
    if db.dialect.name == "sqlite":
        assert ids == list(range(max(before) + 1, max(before) + 6))  # what SQLite itself would have picked
    assert len([s for s in seen if s.startswith("INSERT INTO notes")]) == 1, seen
    assert await _ids(sessions) == [(i, f"{AUTHOR}/notes/{1000 + n}") for n, i in enumerate(before)] + [
        (i, f"{AUTHOR}/notes/{n}") for n, i in enumerate(ids)
    ]


async def test_reserved_ids__a_note_stored_without_one_meanwhile_does_not_collide(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    await _existing(sessions, 1)
    async with sessions() as session:
        await begin_writing(session)
        first = await _add_reserved(session, 1)
        other = _note(2)  # another handler in the same transaction, letting the database pick
        session.add(other)
        await session.flush()
        third = await _add_reserved(session, 3)
        await session.commit()
    assert len({first.id, other.id, third.id}) == 3
    assert [uri for _, uri in await _ids(sessions)][1:] == [f"{AUTHOR}/notes/{n}" for n in (1, 2, 3)]


async def test_reserved_ids__none_on_sqlite_without_the_write_lock(db: AsyncEngine) -> None:
    if db.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's sequence is safe in any transaction")
    sessions = session_factory(db)
    async with sessions() as session:
        assert await reserve_id(session, Note) is None
    async with sessions() as session:
        await begin_writing(session)
        assert await reserve_id(session, Note) == 1
        await session.commit()
        # The lock ended with the transaction: the next one in this session is a plain reader again.
        assert await reserve_id(session, Note) is None


async def test_reserved_ids__a_rolled_back_block_is_not_used_again(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    before = await _existing(sessions, 1)
    async with sessions() as session:
        await begin_writing(session)
        assert await reserve_id(session, Note) is not None
        assert await reserve_id(session, Note) is not None
        await session.rollback()
        await begin_writing(session)
        note = await _add_reserved(session, 7)
        other = _note(8)
        session.add(other)
        await session.commit()
    if db.dialect.name == "sqlite":
        assert (note.id, other.id) == (max(before) + 1, max(before) + 2)  # read afresh, not the old block
    assert len(await _ids(sessions)) == 3


async def test_reserved_ids__postgresql_blocks_double(db: AsyncEngine) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite reads max(id) once per transaction")
    sessions = session_factory(db)
    with recorded(db) as seen:
        async with sessions() as session:
            ids = [await reserve_id(session, Note) for _ in range(7)]
            await session.rollback()
    assert len(set(ids)) == 7
    assert None not in ids
    # 1, 2 and 4 ids: three trips to the sequence for seven ids.
    assert len([s for s in seen if "nextval" in s]) == 3, seen


async def test_reserved_ids__postgresql_takes_as_many_as_announced_at_once(db: AsyncEngine) -> None:
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite needs no blocks")
    sessions = session_factory(db)
    with recorded(db) as seen:
        async with sessions() as session:
            expect_rows(session, Note, 10)
            ids = [await reserve_id(session, Note) for _ in range(10)]
            await session.rollback()
            # The announcement ended with its transaction: the next one starts from one id again.
            more = [await reserve_id(session, Note) for _ in range(3)]
            await session.rollback()
    assert len(set(ids)) == 10
    assert len(set(more)) == 3
    assert len([s for s in seen if "nextval" in s]) == 1 + 2, seen
