"""Relationship (docs.joinmastodon.org/entities/Relationship/)."""

from __future__ import annotations

from typing import Any

from fediserver.domain.relationships import Relationship
from fediserver.mastodon.entities import iso


def relationship_entity(
    account_id: str,
    *,
    following: bool,
    requested: bool,
    followed_by: bool,
    blocked_by: bool = False,
    facts: Relationship | None = None,
) -> dict[str, Any]:
    """The entity from the domain's ``facts`` when given; the keyword flags are the follow-only shorthand."""
    f = facts or Relationship(following=following, requested=requested, followed_by=followed_by, blocked_by=blocked_by)
    return {
        "id": account_id,
        "following": f.following,
        "showing_reblogs": f.following,
        "notifying": False,
        "languages": None,
        "followed_by": f.followed_by,
        "blocking": f.blocking,
        "blocked_by": f.blocked_by,
        "muting": f.muting,
        "muting_notifications": f.muting_notifications,
        "muting_expires_at": iso(f.muting_expires_at) if f.muting_expires_at else None,
        "requested": f.requested,
        "requested_by": f.requested_by,
        "domain_blocking": False,
        "endorsed": False,
        "note": "",
    }


def from_facts(account_id: str, facts: Relationship) -> dict[str, Any]:
    return relationship_entity(
        account_id, following=facts.following, requested=facts.requested, followed_by=facts.followed_by, facts=facts
    )
