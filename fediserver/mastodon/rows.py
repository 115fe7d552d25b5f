"""Pages of relations (follows, blocks, mutes, requests, notifications) keyed by the relation's row id.

Mastodon pages these lists by the id of the relation, not of the account shown, so the ``Link`` cursors
are row ids (MD:/methods/accounts/#followers: "pagination uses internal ids").
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from fediserver.domain.paging import Window
from fediserver.mastodon.http import ok, urls
from fediserver.mastodon.pagination import link_header
from fediserver.mastodon.params import Params

DEFAULT_LIMIT = 40
MAX_LIMIT = 80


def _cursor(params: Params, name: str) -> int | None:
    """An id that is not a decimal is treated as absent: nothing can be above or below it."""
    text = (params.text(name) or "").strip()
    return int(text) if text.isdigit() and len(text) <= 19 else None


def window(params: Params, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> Window:
    limit = params.integer("limit") or default
    return Window(
        max_id=_cursor(params, "max_id"),
        since_id=_cursor(params, "since_id"),
        min_id=_cursor(params, "min_id"),
        limit=max(1, min(limit, maximum)),
    )


def paged_rows(request: Request, items: list[dict[str, Any]], row_ids: list[int]) -> JSONResponse:
    """``items`` (newest first) with a ``Link`` whose cursors are the rows' ids."""
    link = link_header(request, urls(request), [str(i) for i in row_ids])
    return ok(items, headers={"Link": link} if link else None)
