"""A request's database connection is given back to the pool while it waits on another server (issue 8:
"Outbound fetches never hold a database connection").

A use case that fetches (WebFinger, an actor, a post) does so before it writes: ``release`` before the
request ends the session's transaction, which so far holds only reads and cache writes, so the pooled
connection is free during the round trip; the session begins a new transaction at its next statement
(loaded rows stay usable: sessions do not expire on commit). A transaction that has written anything
else is never committed early, so a use case stays atomic: it keeps its connection instead, and the
tests of each use case (tests/federation/test_fetch_connections.py) show that this does not happen.

Rows stored as caches of remote state (actors, WebFinger answers) are written with ``caching``: kept in
the use case's transaction when it has already written, committed at once otherwise, so that the next
fetch can release the connection too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

# ``Session.info`` key: the root transaction wrote something that is not a cache.
_WROTE = "fediserver.wrote"
# ``Session.info`` key: writes now are cache writes (inside ``caching``).
_CACHING = "fediserver.caching"


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, context: UOWTransaction) -> None:
    if not session.info.get(_CACHING):
        session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if not state.is_select and not state.session.info.get(_CACHING):
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


def has_written(session: AsyncSession) -> bool:
    """Whether the session's transaction holds writes other than caches (and so must not end early)."""
    return bool(session.sync_session.info.get(_WROTE)) or bool(
        session.new or session.deleted or any(session.is_modified(row) for row in session.dirty)
    )


async def release(session: AsyncSession) -> bool:
    """Give the session's connection back to the pool before a network wait; False when the transaction
    has written (it then keeps its connection, and the use case its atomicity)."""
    if not session.in_transaction():
        return True
    if has_written(session):
        return False
    await session.commit()
    return True


@asynccontextmanager
async def caching(session: AsyncSession) -> AsyncIterator[None]:
    """Write a cache of remote state inside the block; committed at once when the transaction had written
    nothing else, and otherwise left to the use case's commit (and counted as its write)."""
    if has_written(session):
        yield
        return
    info: dict[str, Any] = session.sync_session.info
    info[_CACHING] = True
    try:
        yield
        await session.flush()
    finally:
        info.pop(_CACHING, None)
    await session.commit()
