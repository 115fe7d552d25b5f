"""Relationship (docs.joinmastodon.org/entities/Relationship/)."""

from __future__ import annotations

from typing import Any


def relationship_entity(
    account_id: str, *, following: bool, requested: bool, followed_by: bool, blocked_by: bool = False
) -> dict[str, Any]:
    return {
        "id": account_id,
        "following": following,
        "showing_reblogs": following,
        "notifying": False,
        "languages": None,
        "followed_by": followed_by,
        "blocking": False,
        "blocked_by": blocked_by,
        "muting": False,
        "muting_notifications": False,
        "muting_expires_at": None,
        "requested": requested,
        "requested_by": False,
        "domain_blocking": False,
        "endorsed": False,
        "note": "",
    }
