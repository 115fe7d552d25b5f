"""Pages of rows by their own integer id: Mastodon's ``max_id``/``since_id``/``min_id`` over bookmark,
favourite and boost ids (``MD:/api/guidelines/#pagination``), where the cursor is not a status id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, TypeVarTuple

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class IdWindow:
    """Rows below ``max_id`` and above ``since_id``; with ``min_id``, the rows just above it (the page
    before); ``limit`` rows at most. Results come newest (highest id) first either way."""

    limit: int = 20
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None

    def apply(self, query: Select[*Ts], column: InstrumentedAttribute[int]) -> Select[*Ts]:
        if self.max_id is not None:
            query = query.where(column < self.max_id)
        if self.since_id is not None:
            query = query.where(column > self.since_id)
        if self.min_id is not None:
            return query.where(column > self.min_id).order_by(column.asc()).limit(self.limit)
        return query.order_by(column.desc()).limit(self.limit)

    def newest_first(self, rows: list[T]) -> list[T]:
        """``rows`` as ``apply``'s query returned them, put newest first."""
        return list(reversed(rows)) if self.min_id is not None else rows
