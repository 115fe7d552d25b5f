"""Account (docs.joinmastodon.org/entities/Account/) for local actors and cached remote actors.

Local ``acct`` is the bare username (Tusky treats anything else as remote); avatar and header are never
null (a placeholder image, as Mastodon sends ``missing.png``); ``last_status_at`` is a date or null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from fediserver.federation.render import field_value_html
from fediserver.mastodon.entities import iso, iso_date
from fediserver.mastodon.entities.status import VISIBILITY_OUT
from fediserver.mastodon.ids import account_id
from fediserver.models import LocalActor, RemoteActor, User
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


def _field(field: dict[str, Any]) -> JSON:
    """Field (MD:/entities/Account/#Field): ``value`` as HTML, ``verified_at`` a datetime or null."""
    verified = _parse_time(field.get("verified_at"))
    return {
        "name": str(field.get("name", "")),
        "value": field_value_html(str(field.get("value", ""))),
        "verified_at": iso(verified) if verified else None,
    }


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(value: str) -> str:
    """Plain text of rendered HTML: paragraphs become blank lines, ``<br>`` a newline."""
    parser = _Text()
    parser.feed(value)
    parser.close()
    return "".join(parser.parts)


def local_account(actor: LocalActor, urls: Urls, stats: AccountStats) -> JSON:
    placeholder = urls.static_placeholder("avatar.png")
    avatar = urls.media(actor.avatar_key) if actor.avatar_key else placeholder
    header = urls.media(actor.header_key) if actor.header_key else urls.static_placeholder("header.png")
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
        "discoverable": actor.discoverable,
        "indexable": actor.indexable,
        "created_at": iso(actor.created_at),
        **_common(stats),
        "fields": [_field(f) for f in actor.fields],
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


def credential_account(
    actor: LocalActor, urls: Urls, stats: AccountStats, follow_requests: int = 0, user: User | None = None
) -> JSON:
    """CredentialAccount: Account plus ``source`` and ``role`` (verify_credentials).

    ``source.note`` is the bio as plain text, read back from its HTML until the bio's source text is stored.
    """
    body = local_account(actor, urls, stats)
    body["source"] = {
        "privacy": VISIBILITY_OUT[user.default_visibility] if user is not None else "public",
        "sensitive": user.default_sensitive if user is not None else False,
        "language": user.default_language if user is not None else None,
        # The bio as typed; one set before the source was kept is recovered from its HTML.
        "note": actor.summary_source if actor.summary_source is not None else html_to_text(actor.summary),
        "fields": [
            {"name": str(f.get("name", "")), "value": str(f.get("value", "")), "verified_at": _field(f)["verified_at"]}
            for f in actor.fields
        ],
        "follow_requests_count": follow_requests,
        "hide_collections": False,
        "discoverable": actor.discoverable,
        "indexable": actor.indexable,
    }
    body["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
    return body
