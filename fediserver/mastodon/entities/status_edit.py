"""StatusEdit and StatusSource (docs.joinmastodon.org/entities/StatusEdit/, /entities/StatusSource/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fediserver.mastodon.entities import iso

JSON = dict[str, Any]


def status_edit_entity(
    *,
    content: str,
    spoiler_text: str | None,
    sensitive: bool,
    created_at: datetime,
    account: JSON,
    media: list[JSON],
) -> JSON:
    """One version of a status; ``sensitive`` as the Status entity has it (a content warning makes it so)."""
    return {
        "content": content,
        "spoiler_text": spoiler_text or "",
        "sensitive": bool(sensitive or spoiler_text),
        "created_at": iso(created_at),
        "account": account,
        "poll": None,
        "media_attachments": media,
        "emojis": [],
    }


def status_source_entity(status_id: str, text: str | None, spoiler_text: str | None) -> JSON:
    return {"id": status_id, "text": text or "", "spoiler_text": spoiler_text or ""}
