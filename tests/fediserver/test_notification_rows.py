"""Notifications are written together, in one statement per transaction, before anything reads them and
before the commit (``domain.notifications``); each new row gets its ``notification`` stream event, a
duplicate gets none, and a rolled-back transaction writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver.db import session_factory
from fediserver.domain import notifications
from fediserver.models import LocalActor, Notification, StreamEventRow

BOB = "https://remote.example/users/bob"


Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def alice(db: AsyncEngine) -> tuple[Sessions, LocalActor]:
    """The database's sessions and a local account to notify."""
    sessions = session_factory(db)
    async with sessions() as session:
        account = LocalActor(username="alice", private_key_pem="-", public_key_pem="-")
        session.add(account)
        await session.commit()
    return sessions, account


@contextmanager
def _statements(db: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_c: object, _cur: object, sql: str, *_: object) -> None:
        seen.append(sql.split("(")[0].strip())

    event.listen(db.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", record)


async def _notify(session: AsyncSession, alice: LocalActor, kind: str, note: int) -> None:
    await notifications.notify(session, alice.id, kind, BOB, f"{BOB}/notes/{note}")


async def _event_count(session: AsyncSession) -> int | None:
    return await session.scalar(select(func.count()).select_from(StreamEventRow))


async def _rows(session: AsyncSession) -> list[tuple[int, str | None]]:
    found = await session.execute(select(Notification.id, Notification.note_uri).order_by(Notification.id))
    return [(id_, uri) for id_, uri in found]


async def test_notify__a_transactions_rows_in_one_statement_each_with_its_event(
    db: AsyncEngine, alice: tuple[Sessions, LocalActor]
) -> None:
    sessions, account = alice
    async with sessions() as session:
        with _statements(db) as seen:
            for i in range(5):
                await _notify(session, account, "mention", i)
            await _notify(session, account, "mention", 0)  # the same again
            await session.commit()
        assert sum(sql.startswith("INSERT INTO notifications") for sql in seen) == 1
    async with sessions() as session:
        rows = await _rows(session)
        events = list(await session.scalars(select(StreamEventRow).order_by(StreamEventRow.id)))
    assert [uri for _, uri in rows] == [f"{BOB}/notes/{i}" for i in range(5)]
    assert [(e.event, e.subject_id, e.keys) for e in events] == [
        ("notification", id_, [f"user:{account.id}", f"user:notification:{account.id}"]) for id_, _ in rows
    ]


async def test_notify__an_event_already_recorded_is_neither_written_nor_streamed_again(
    alice: tuple[Sessions, LocalActor],
) -> None:
    sessions, account = alice
    async with sessions() as session:
        await _notify(session, account, "favourite", 1)
        await session.commit()
    async with sessions() as session:
        await _notify(session, account, "favourite", 1)
        await _notify(session, account, "favourite", 2)
        await session.commit()
    async with sessions() as session:
        assert [uri for _, uri in await _rows(session)] == [f"{BOB}/notes/1", f"{BOB}/notes/2"]
        assert await _event_count(session) == 2


async def test_notify__the_same_transaction_reads_and_withdraws_what_it_queued(
    alice: tuple[Sessions, LocalActor],
) -> None:
    sessions, account = alice
    async with sessions() as session:
        await _notify(session, account, "favourite", 1)
        await _notify(session, account, "reblog", 1)
        listed = await notifications.list_notifications(session, account, notifications.NotificationQuery())
        assert sorted(n.type for n in listed) == ["favourite", "reblog"]
        await _notify(session, account, "mention", 2)
        # The Undo of a favourite in the same batch as the Like: the queued row must not survive it.
        await notifications.withdraw(session, ["mention"], BOB, [f"{BOB}/notes/2"])
        await session.commit()
    async with sessions() as session:
        kinds = await session.scalars(select(Notification.type).order_by(Notification.id))
        assert list(kinds) == ["favourite", "reblog"]
        # Each written row streamed once, the withdrawn one too: it existed, as a Like then Undo does.
        assert await _event_count(session) == 3


async def test_notify__a_rolled_back_transaction_writes_nothing(alice: tuple[Sessions, LocalActor]) -> None:
    sessions, account = alice
    async with sessions() as session:
        await _notify(session, account, "mention", 1)
        await session.rollback()
        await session.commit()
    async with sessions() as session:
        assert await _rows(session) == []
        assert await _event_count(session) == 0
