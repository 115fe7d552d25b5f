"""as_to_model: remote ActivityStreams documents into our rows, validated and sanitised."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import activitypub as ap
from fediserver.federation.sanitize import plain_text, sanitize_html
from fediserver.models import MediaAttachment, Note, RemoteActor, utcnow
from fediserver.text.emoji import emojis_from_tags

JSON = dict[str, Any]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _url(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("href") or value.get("url")
    return _link(value)


def _link(value: Any) -> str | None:
    """An http(s) URL that fits our String(2048) columns, or None (optional links are dropped, not refused)."""
    try:
        return ap.check_url(value, "link")
    except ap.InvalidObject:
        return None


def find_key(doc: JSON, key_id: str | None = None) -> tuple[str, str] | None:
    """(key id, PEM) of the actor's ``publicKey`` owned by the actor (and matching ``key_id`` if given)."""
    for key in ap.as_list(doc.get("publicKey")):
        if not isinstance(key, dict):
            continue
        kid, pem, owner = key.get("id"), key.get("publicKeyPem"), key.get("owner")
        if not isinstance(kid, str) or not isinstance(pem, str) or owner != doc.get("id"):
            continue
        if key_id is None or kid == key_id:
            return kid, pem
    return None


def actor_to_model(doc: JSON, row: RemoteActor | None = None) -> RemoteActor:
    """Validate an actor document (federation.md §1.2) and copy it into ``row`` (or a new one)."""
    actor_id = ap.check_url(doc.get("id"), "actor id")
    actor_type = next((t for t in ap.get_types(doc) if t in ap.ACTOR_TYPES), None)
    if actor_type is None:
        raise ap.InvalidObject(f"{actor_id} is not an actor (type {doc.get('type')!r})")
    inbox = _link(doc.get("inbox"))
    if inbox is None or not ap.same_origin(inbox, actor_id):
        raise ap.InvalidObject(f"{actor_id} has no inbox on its own origin")
    endpoints = doc.get("endpoints")
    shared = (endpoints.get("sharedInbox") if isinstance(endpoints, dict) else None) or doc.get("sharedInbox")
    key = find_key(doc)
    row = row or RemoteActor(uri=actor_id)
    row.uri = actor_id
    row.domain = ap.origin(actor_id)[1]
    row.actor_type = actor_type
    row.preferred_username = _text(doc.get("preferredUsername"))[:255]
    row.display_name = plain_text(_text(doc.get("name")))[:500]
    row.summary_html = sanitize_html(_text(doc.get("summary")))
    row.url = _url(doc.get("url"))
    row.icon_url = _url(doc.get("icon"))
    row.inbox = inbox
    shared = _link(shared)
    row.shared_inbox = shared if shared is not None and ap.same_origin(shared, actor_id) else None
    row.outbox = _link(doc.get("outbox"))
    row.followers_url = _link(doc.get("followers"))
    row.following_url = _link(doc.get("following"))
    row.key_id, row.public_key_pem = key if key else (None, None)
    row.manually_approves_followers = doc.get("manuallyApprovesFollowers") is True
    row.moved_to = _link(doc.get("movedTo"))
    row.raw = doc
    row.fetched_at = utcnow()
    return row


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def visibility_of(doc: JSON, followers_url: str | None) -> str:
    """Mastodon's reading of to/cc (``StatusParser#visibility``)."""
    to, cc = ap.as_list(doc.get("to")), ap.as_list(doc.get("cc"))
    if any(ap.is_public(x) for x in to):
        return "public"
    if any(ap.is_public(x) for x in cc):
        return "unlisted"
    if followers_url and followers_url in to + cc:
        return "followers"
    return "direct"


MAX_TAGS = 64


def mention_and_hashtag_tags(tags: Any) -> list[JSON]:
    """The ``Mention`` and ``Hashtag`` tags (AS2 vocabulary §5.7) as ``{"type", "href", "name"}`` with
    string values, at most ``MAX_TAGS``; anything else in ``tag`` is dropped."""
    out: list[JSON] = []
    for item in ap.as_list(tags):
        if not isinstance(item, dict):
            continue
        kind = "Mention" if ap.has_type(item, "Mention") else "Hashtag" if ap.has_type(item, "Hashtag") else None
        href, name = ap.get_id(item.get("href")), item.get("name")
        if kind is None or not isinstance(name, str) or len(name) > 256 or (kind == "Mention" and not href):
            continue
        out.append({"type": kind, "href": href if href and len(href) <= 2048 else None, "name": name})
        if len(out) >= MAX_TAGS:
            break
    return out


def note_to_model(doc: JSON, author: RemoteActor, row: Note | None = None) -> Note:
    """A remote Note, its HTML sanitised; attachments stay remote references."""
    note_id = ap.require_id(doc)
    attributed = ap.get_id(doc.get("attributedTo"))
    if attributed != author.uri:
        raise ap.InvalidObject(f"{note_id} is attributed to {attributed!r}, not {author.uri}")
    if not ap.same_origin(note_id, author.uri):
        raise ap.InvalidObject(f"{note_id} is not on {author.uri}'s origin")
    row = row or Note(uri=note_id)
    row.attributed_to = author.uri
    row.url = _url(doc.get("url")) or note_id
    row.content = sanitize_html(_text(doc.get("content")))
    summary = _text(doc.get("summary"))
    row.summary = plain_text(summary) if summary else None
    row.sensitive = doc.get("sensitive") is True
    row.visibility = visibility_of(doc, author.followers_url)
    row.to = [x for x in (ap.get_id(t) for t in ap.as_list(doc.get("to"))) if x]
    row.cc = [x for x in (ap.get_id(t) for t in ap.as_list(doc.get("cc"))) if x]
    row.in_reply_to_uri = ap.get_id(doc.get("inReplyTo"))
    row.emojis = emojis_from_tags(doc.get("tag"))
    row.tags = mention_and_hashtag_tags(doc.get("tag"))
    row.raw = doc
    row.published_at = parse_time(doc.get("published")) or utcnow()
    row.updated_at = parse_time(doc.get("updated"))
    return row


def attachments_to_models(doc: JSON) -> list[MediaAttachment]:
    out: list[MediaAttachment] = []
    for position, item in enumerate(ap.as_list(doc.get("attachment"))):
        if not isinstance(item, dict):
            continue
        url = _url(item.get("url"))
        if url is None:
            continue
        media_type = item.get("mediaType") if isinstance(item.get("mediaType"), str) else "application/octet-stream"
        width, height = item.get("width"), item.get("height")
        blurhash = item.get("blurhash")
        out.append(
            MediaAttachment(
                position=position,
                remote_url=url,
                media_type=str(media_type)[:100],
                width=width if isinstance(width, int) else None,
                height=height if isinstance(height, int) else None,
                blurhash=blurhash if isinstance(blurhash, str) and len(blurhash) <= 100 else None,
                description=plain_text(_text(item.get("summary")) or _text(item.get("name"))),
            )
        )
    return out
