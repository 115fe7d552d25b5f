"""Notification (docs.joinmastodon.org/entities/Notification/).

Our stored types are Mastodon's names already (``fediserver.models.NOTIFICATION_TYPES``). ``status`` is
present only for the types about a status, as Mastodon's serializer omits it otherwise; ids are the row
ids as strings (Mastodon's notification ids are plain sequence numbers, not snowflakes).
"""

from __future__ import annotations

from typing import Any

from fediserver.mastodon.entities import iso
from fediserver.models import Notification

JSON = dict[str, Any]
STATUS_TYPES = frozenset({"mention", "status", "reblog", "favourite", "update", "poll", "quote"})


def notification_id(row: Notification) -> str:
    return str(row.id)


def notification_entity(row: Notification, account: JSON, status: JSON | None) -> JSON:
    body: JSON = {
        "id": notification_id(row),
        "type": row.type,
        "created_at": iso(row.created_at),
        "group_key": f"ungrouped-{row.id}",
        "account": account,
    }
    if row.type in STATUS_TYPES:
        body["status"] = status
    return body
