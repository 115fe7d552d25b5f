"""Status (docs.joinmastodon.org/entities/Status/).

Counts, ``spoiler_text``, ``mentions`` and ``emojis`` are never null (Tusky); ``url`` is a URL or null,
never ``""`` (Tusker); ``filtered`` is ``[]`` (Tusky 25.1 broke on null). Our ``followers`` visibility is
Mastodon's ``private``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fediserver.mastodon.entities import iso
from fediserver.mastodon.ids import snowflake
from fediserver.models import Note
from fediserver.urls import Urls

JSON = dict[str, Any]
VISIBILITY_OUT = {"public": "public", "unlisted": "unlisted", "followers": "private", "direct": "direct"}
VISIBILITY_IN = {"public": "public", "unlisted": "unlisted", "private": "followers", "direct": "direct"}


@dataclass(frozen=True)
class StatusContext:
    """What a status needs beyond its row, loaded in batches by ``fediserver.mastodon.present``."""

    account: JSON
    media: list[JSON] = field(default_factory=list)
    favourites: int = 0
    reblogs: int = 0
    replies: int = 0
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None
    favourited: bool = False
    reblogged: bool = False
    bookmarked: bool = False
    pinned: bool = False
    viewer: bool = False
    mentions: list[JSON] = field(default_factory=list)
    tags: list[JSON] = field(default_factory=list)
    emojis: list[JSON] = field(default_factory=list)


def mentioned_uris(note: Note) -> list[str]:
    """The actor URIs of the note's ``Mention`` tags (AS2 vocabulary §5.7, as Mastodon emits them)."""
    return [t["href"] for t in note.tags or [] if t.get("type") == "Mention" and isinstance(t.get("href"), str)]


def mention_entities(note: Note, accounts: dict[str, JSON]) -> list[JSON]:
    """Status ``mentions``: id, username, url and acct of each mentioned account we know (Mastodon leaves
    out what it has not resolved too)."""
    out: list[JSON] = []
    for uri in dict.fromkeys(mentioned_uris(note)):
        account = accounts.get(uri)
        if account is not None:
            out.append({key: account[key] for key in ("id", "username", "url", "acct")})
    return out


def tag_entities(note: Note, urls: Urls) -> list[JSON]:
    """Status ``tags``: each ``Hashtag`` tag's name without ``#`` and this instance's page for it."""
    names: dict[str, str] = {}
    for tag in note.tags or []:
        name = tag.get("name")
        if tag.get("type") == "Hashtag" and isinstance(name, str) and name.lstrip("#"):
            names.setdefault(name.lstrip("#").lower(), name.lstrip("#"))
    return [{"name": name, "url": urls.tag(name)} for name in names.values()]


def emoji_entities(note: Note) -> list[JSON]:
    """Status ``emojis`` (CustomEmoji): the note's ``Emoji`` tags, images by reference."""
    return [
        {"shortcode": e["shortcode"], "url": e["url"], "static_url": e["url"], "visible_in_picker": False}
        for e in note.emojis or []
        if e.get("shortcode") and e.get("url")
    ]


def status_id(note: Note) -> str:
    return snowflake(note.published_at, note.id)


def status_entity(note: Note, ctx: StatusContext) -> JSON:
    body: JSON = {
        "id": status_id(note),
        "uri": note.uri,
        "url": note.url or None,
        "created_at": iso(note.published_at),
        "account": ctx.account,
        "content": note.content,
        "visibility": VISIBILITY_OUT.get(note.visibility, "public"),
        "sensitive": bool(note.sensitive or note.summary),
        "spoiler_text": note.summary or "",
        "media_attachments": ctx.media,
        "application": None,
        "mentions": ctx.mentions,
        "tags": ctx.tags,
        "emojis": ctx.emojis,
        "reblogs_count": ctx.reblogs,
        "favourites_count": ctx.favourites,
        "replies_count": ctx.replies,
        "in_reply_to_id": ctx.in_reply_to_id,
        "in_reply_to_account_id": ctx.in_reply_to_account_id,
        "reblog": None,
        "poll": None,
        "card": None,
        "language": None,
        "text": None,
        "edited_at": iso(note.updated_at) if note.updated_at else None,
    }
    if ctx.viewer:
        body.update(
            favourited=ctx.favourited,
            reblogged=ctx.reblogged,
            muted=False,
            bookmarked=ctx.bookmarked,
            pinned=ctx.pinned,
            filtered=[],
        )
    return body


def reblog_entity(boost_id: str, boost_uri: str, boosted_at: datetime, account: JSON, inner: JSON) -> JSON:
    """A boost as a timeline shows it: the booster's status wrapping the boosted one in ``reblog``."""
    body = {key: value for key, value in inner.items() if key not in ("media_attachments", "mentions", "tags")}
    body.update(
        id=boost_id,
        uri=boost_uri,
        url=None,
        created_at=iso(boosted_at),
        account=account,
        content="",
        spoiler_text="",
        sensitive=False,
        media_attachments=[],
        mentions=[],
        tags=[],
        reblogs_count=0,
        favourites_count=0,
        replies_count=0,
        in_reply_to_id=None,
        in_reply_to_account_id=None,
        edited_at=None,
        reblog=inner,
    )
    return body
