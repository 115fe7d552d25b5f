"""A window on rows ordered by their integer id: ``max_id``/``since_id``/``min_id`` and a limit.

Mastodon pages follows, blocks, mutes, follow requests, notifications, bookmarks, favourites and boosts by
the row id of the relation (not of the account or status shown), newest first; ``min_id`` asks for the rows
just above it (MD:/api/guidelines/#pagination).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, TypeVarTuple

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from fediserver.errors import InvalidInput

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class Window:
    """Rows below ``max_id`` and above ``since_id``; with ``min_id``, the rows just above it (the page
    before); ``limit`` rows at most (1 to 200)."""

    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 40

    def __post_init__(self) -> None:
        if not 0 < self.limit <= 200:
            raise InvalidInput("limit: must be between 1 and 200")

    def apply(self, query: Select[*Ts], row_id: InstrumentedAttribute[int]) -> Select[*Ts]:
        """Filter and order ``query``; read the rows through ``in_order`` to get them newest first."""
        if self.max_id is not None:
            query = query.where(row_id < self.max_id)
        if self.since_id is not None:
            query = query.where(row_id > self.since_id)
        if self.min_id is not None:
            return query.where(row_id > self.min_id).order_by(row_id.asc()).limit(self.limit)
        return query.order_by(row_id.desc()).limit(self.limit)

    def in_order(self, rows: list[T]) -> list[T]:
        """Rows newest first whichever way ``apply`` read them."""
        return rows[::-1] if self.min_id is not None else rows
