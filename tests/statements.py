"""The SQL a test's code sends, recorded from an engine (statement counts are behaviour here: one INSERT
for a batch, no look-up for a remembered row)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def recorded(engine: AsyncEngine) -> Iterator[list[str]]:
    """Each statement sent through ``engine`` while the block runs, whitespace folded to single spaces."""
    seen: list[str] = []

    def record(_c: object, _cur: object, sql: str, *_: object) -> None:
        seen.append(" ".join(sql.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
