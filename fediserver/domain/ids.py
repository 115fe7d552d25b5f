"""Primary keys handed out before the INSERT, so that a transaction's new rows go in one statement.

A row whose id the database picks must be inserted before anything can refer to it: the inbox worker
flushed each inbound note on its own, one INSERT (and the ORM's whole flush) per Create, because its
stream event and hashtags need the id (docs/benchmarks.md, "notes written together"). With the id known
up front, the notes of a batch stay pending and the ORM writes them together at the next flush, as one
executemany (SQLAlchemy batches INSERTs whose primary keys are all present).

Where ids come from:

- PostgreSQL: the table's own sequence (``nextval``), so an id handed out here can never meet one the
  database hands out. A block is as large as ``expect_rows`` announced (the inbox worker's batch: its
  absent Creates), else blocks double from one id, at most ``MAX_BLOCK``; what a transaction leaves
  unused is a gap, as sequences have anyway.
- SQLite: ``max(id) + 1`` onwards, which is what SQLite itself picks for an ``INTEGER PRIMARY KEY``
  without ``AUTOINCREMENT``. Only safe while this transaction holds the write lock from its start
  (``BEGIN IMMEDIATE``, ``db.begin_writing``): no other connection can insert meanwhile. While a block is
  live, every pending row of the model that has no id takes the next one at flush (a ``before_flush``
  listener), so that SQLite never picks one from under the block. Elsewhere ``reserve_id`` returns None
  and the caller flushes as before.

The block lives as long as the transaction (a savepoint's rollback only leaves gaps).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from fediserver.db import holds_write_lock

BLOCKS = "fediserver.ids"
HINTS = "fediserver.ids.hints"
MAX_BLOCK = 64


class _Block:
    """Ids ready to hand out for one table: the sequence's (PostgreSQL), or every id from ``next`` on (SQLite)."""

    def __init__(self, *, ids: list[int] | None = None, next_id: int = 0) -> None:
        self.ids = ids[::-1] if ids is not None else None
        self.size = len(ids) if ids is not None else 0
        self.next = next_id

    @property
    def unbounded(self) -> bool:
        return self.ids is None

    def take(self) -> int | None:
        if self.ids is not None:
            return self.ids.pop() if self.ids else None
        taken = self.next
        self.next += 1
        return taken


def expect_rows(session: AsyncSession, model: type[Any], count: int) -> None:
    """The caller is about to add ``count`` new rows of ``model``: PostgreSQL's next block takes that many ids
    at once (at most ``MAX_BLOCK``) instead of doubling up to it. Unused ones are gaps, as above."""
    sync = session.sync_session
    hints: dict[str, int] = sync.info.setdefault(HINTS, {})
    hints[model.__table__.name] = count
    _listen(sync)


async def reserve_id(session: AsyncSession, model: type[Any]) -> int | None:
    """A fresh primary key for a new ``model`` row in this transaction, or None where none can be handed
    out safely (SQLite without the write lock): then let the database pick it at flush."""
    table = model.__table__
    dialect = session.get_bind().dialect.name
    sync = session.sync_session
    blocks: dict[str, _Block] | None = sync.info.get(BLOCKS)
    block = blocks.get(table.name) if blocks else None
    if block is not None:
        taken = block.take()
        if taken is not None:
            return taken
    if dialect == "sqlite":
        if not holds_write_lock(session):
            return None
        # Pending rows without an id are flushed by this query's autoflush, so max() counts them.
        top = await session.scalar(select(func.max(model.id)))
        block = _Block(next_id=(top or 0) + 1)
    elif dialect == "postgresql":
        hinted = sync.info.get(HINTS, {}).pop(table.name, 0)
        size = min(max(block.size * 2 if block is not None else 1, hinted), MAX_BLOCK)
        # On the connection, not the session: an autoflush here would write the notes pending so far on
        # their own, one INSERT per block instead of one for the transaction.
        connection = await session.connection()
        ids = await connection.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table.name, "n": size},
        )
        block = _Block(ids=[int(i) for i in ids])
    else:
        return None
    if blocks is None:
        blocks = sync.info[BLOCKS] = {}
        _listen(sync)
    blocks[table.name] = block
    return block.take()


def _listen(sync: Session) -> None:
    if not event.contains(sync, "before_flush", _number_pending):
        event.listen(sync, "before_flush", _number_pending)
        event.listen(sync, "after_transaction_end", _drop)


def _number_pending(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    """On SQLite, a live block numbers every new row of its table that has no id yet (module docstring)."""
    blocks: dict[str, _Block] | None = session.info.get(BLOCKS)
    if not blocks:
        return
    for obj in session.new:
        table = getattr(type(obj), "__table__", None)
        block = blocks.get(table.name) if table is not None else None
        if block is not None and block.unbounded and getattr(obj, "id", 0) is None:
            obj.id = block.take()


def _drop(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(BLOCKS, None)
        session.info.pop(HINTS, None)
