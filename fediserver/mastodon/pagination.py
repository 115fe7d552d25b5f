"""Pagination by ``max_id``/``since_id``/``min_id`` with ``Link`` headers (MD:/api/guidelines/#pagination).

``next`` comes first and carries ``max_id``, ``prev`` carries ``min_id``; every other query parameter is
repeated (GoToSocial lost ``types[]`` and ``local``); an empty page has no ``Link`` (clients.md §4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlencode

from sqlalchemy import Select, asc, desc
from sqlalchemy.orm import InstrumentedAttribute
from starlette.requests import Request

from fediserver.mastodon import ids
from fediserver.mastodon.params import Params
from fediserver.urls import Urls

DEFAULT_LIMIT = 20
MAX_LIMIT = 40
CURSORS = ("max_id", "since_id", "min_id")
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    max_id: ids.Snowflake | None
    since_id: ids.Snowflake | None
    min_id: ids.Snowflake | None
    limit: int

    @classmethod
    def from_params(cls, params: Params, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> Page:
        limit = params.integer("limit") or default
        return cls(
            max_id=ids.Snowflake.parse(params.text("max_id")),
            since_id=ids.Snowflake.parse(params.text("since_id")),
            min_id=ids.Snowflake.parse(params.text("min_id")),
            limit=max(1, min(limit, maximum)),
        )

    def apply(
        self, query: Select[T], at: InstrumentedAttribute[datetime], row_id: InstrumentedAttribute[int]
    ) -> Select[T]:
        """Filter and order ``query``; with ``min_id`` rows come oldest first (``ascending``), else newest first."""
        if self.max_id is not None:
            query = query.where(ids.older_than(at, row_id, self.max_id))
        if self.since_id is not None:
            query = query.where(ids.newer_than(at, row_id, self.since_id))
        if self.min_id is not None:
            query = query.where(ids.newer_than(at, row_id, self.min_id))
            return query.order_by(asc(at), asc(row_id)).limit(self.limit)
        return query.order_by(desc(at), desc(row_id)).limit(self.limit)

    @property
    def ascending(self) -> bool:
        return self.min_id is not None

    @property
    def newest_first_by_time(self) -> bool:
        return self.min_id is None

    @property
    def time_bound(self) -> datetime | None:
        """``max_id``'s millisecond, excluded (``ids.older_than`` picks only rows before its end)."""
        return self.max_id.end if self.max_id is not None else None


def link_header(request: Request, urls: Urls, page_ids: list[str]) -> str | None:
    """``Link`` for a page whose items (newest first) have these ids; None for an empty page."""
    if not page_ids:
        return None
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in CURSORS]
    base = urls.api(request.url.path)

    def url(cursor: str, value: str) -> str:
        return f"{base}?{urlencode([*kept, (cursor, value)])}"

    return f'<{url("max_id", page_ids[-1])}>; rel="next", <{url("min_id", page_ids[0])}>; rel="prev"'
