"""``max_id``/``since_id``/``min_id`` and ``limit`` for lists paged by a row id that is not a status id
(bookmarks, favourites, favourited_by, reblogged_by: Mastodon pages them by the bookmark or favourite id,
and its ``Link`` header carries those ids)."""

from __future__ import annotations

from fediserver.domain.paging import Window
from fediserver.mastodon.pagination import DEFAULT_LIMIT, MAX_LIMIT
from fediserver.mastodon.params import Params


def _id(params: Params, name: str) -> int | None:
    text = params.text(name)
    # Anything that is not an id of ours matches nothing in particular: ignored, as Mastodon does.
    return int(text) if text is not None and text.isdigit() and len(text) <= 18 else None


def id_window(params: Params, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> Window:
    limit = params.integer("limit") or default
    return Window(
        limit=max(1, min(limit, maximum)),
        max_id=_id(params, "max_id"),
        since_id=_id(params, "since_id"),
        min_id=_id(params, "min_id"),
    )
