"""Account (docs.joinmastodon.org/entities/Account/) for local actors and cached remote actors.

Local ``acct`` is the bare username (Tusky treats anything else as remote); avatar and header are never
null (a placeholder image, as Mastodon sends ``missing.png``); ``last_status_at`` is a date or null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fediserver.federation.sanitize import plain_text
from fediserver.mastodon.entities import iso, iso_date
from fediserver.mastodon.ids import account_id
from fediserver.models import LocalActor, RemoteActor
from fediserver.urls import Urls

JSON = dict[str, Any]


@dataclass(frozen=True)
class AccountStats:
    statuses: int = 0
    followers: int = 0
    following: int = 0
    last_status_at: datetime | None = None


def _common(stats: AccountStats) -> JSON:
    return {
        "emojis": [],
        "fields": [],
        "group": False,
        "noindex": False,
        "roles": [],
        "statuses_count": stats.statuses,
        "followers_count": stats.followers,
        "following_count": stats.following,
        "last_status_at": iso_date(stats.last_status_at) if stats.last_status_at else None,
        "hide_collections": False,
        "memorial": False,
    }


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def local_account(actor: LocalActor, urls: Urls, stats: AccountStats) -> JSON:
    avatar = urls.static_placeholder("avatar.png")
    header = urls.static_placeholder("header.png")
    return {
        "id": account_id(local_id=actor.id),
        "username": actor.username,
        "acct": actor.username,
        "url": urls.profile(actor.username),
        "uri": urls.actor(actor.username),
        "display_name": actor.display_name,
        "note": actor.summary,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "locked": actor.manually_approves_followers,
        "bot": actor.actor_type == "Service",
        "discoverable": True,
        "indexable": True,
        "created_at": iso(actor.created_at),
        **_common(stats),
    }


def remote_account(actor: RemoteActor, urls: Urls, stats: AccountStats) -> JSON:
    avatar = actor.icon_url or urls.static_placeholder("avatar.png")
    header = urls.static_placeholder("header.png")
    username = actor.preferred_username or actor.uri.rstrip("/").rsplit("/", 1)[-1]
    published = actor.raw.get("published") if isinstance(actor.raw, dict) else None
    return {
        "id": account_id(remote_id=actor.id),
        "username": username,
        "acct": f"{username}@{actor.domain}",
        "url": actor.url or actor.uri,
        "uri": actor.uri,
        "display_name": actor.display_name,
        "note": actor.summary_html,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "locked": actor.manually_approves_followers,
        "bot": actor.actor_type in ("Service", "Application"),
        "discoverable": bool(actor.raw.get("discoverable", False)) if isinstance(actor.raw, dict) else False,
        "indexable": bool(actor.raw.get("indexable", False)) if isinstance(actor.raw, dict) else False,
        "created_at": iso(_parse_time(published) or actor.fetched_at),
        **_common(stats),
    }


def credential_account(actor: LocalActor, urls: Urls, stats: AccountStats, follow_requests: int = 0) -> JSON:
    """CredentialAccount: Account plus ``source`` and ``role`` (verify_credentials)."""
    body = local_account(actor, urls, stats)
    body["source"] = {
        "privacy": "public",
        "sensitive": False,
        "language": None,
        # The bio as typed; one set before the source was kept is recovered from its HTML.
        "note": actor.summary_source if actor.summary_source is not None else plain_text(actor.summary),
        "fields": [],
        "follow_requests_count": follow_requests,
        "hide_collections": False,
        "discoverable": True,
        "indexable": True,
    }
    body["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
    return body
