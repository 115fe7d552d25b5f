"""Conversation (docs.joinmastodon.org/entities/Conversation/)."""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


def conversation_entity(conversation_id: str, unread: bool, accounts: list[JSON], last_status: JSON | None) -> JSON:
    return {"id": conversation_id, "unread": unread, "accounts": accounts, "last_status": last_status}
