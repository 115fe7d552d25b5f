"""Pure AS2 builders (ActivityStreams 2.0 Vocabulary; Mastodon's spec/activitypub for the fields it reads).

Every builder returns a new JSON-ready dict; none fetches or stores anything. Ids are the caller's:
they must be dereferenceable URLs on the actor's origin (FEP-fe34).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .keys import public_key_block
from .vocab import ACTOR_TYPES, AS_CONTEXT, SECURITY_V1_CONTEXT

JSON = dict[str, Any]

# Mastodon's own inline extension terms; `schema:` must be `http://schema.org#`, the IRI Mastodon uses
# for profile fields (PropertyValue), even though it is not schema.org's canonical IRI.
MASTODON_TERMS: JSON = {
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "sensitive": "as:sensitive",
    "Hashtag": "as:Hashtag",
    "toot": "http://joinmastodon.org/ns#",
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "Emoji": "toot:Emoji",
    "blurhash": "toot:blurhash",
    "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
    "schema": "http://schema.org#",
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
}


def iso8601(moment: datetime) -> str:
    """`2021-04-20T02:07:55Z`: the ISO 8601 form Mastodon parses for `published`/`updated`."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _context() -> list[Any]:
    return [AS_CONTEXT, SECURITY_V1_CONTEXT, dict(MASTODON_TERMS)]


def actor(
    *,
    id: str,
    username: str,
    public_key_pem: str,
    type: str = "Person",
    key_id: str | None = None,
    name: str | None = None,
    summary: str | None = None,
    url: str | None = None,
    shared_inbox: str | None = None,
    icon_url: str | None = None,
    icon_media_type: str | None = None,
    manually_approves_followers: bool = False,
    discoverable: bool = False,
    indexable: bool = False,
    published: datetime | None = None,
    fields: Sequence[tuple[str, str]] = (),
) -> JSON:
    """An actor with every property Mastodon requires (federation.md §1.2, checklist 3, 4, 10, 11).

    `inbox`, `outbox`, `followers` and `following` are `{id}/inbox` and so on; `key_id` defaults to
    `{id}#main-key`. `type: Service` or `Application` shows Mastodon's bot badge.
    """
    if type not in ACTOR_TYPES:
        raise ValueError(f"Mastodon ignores actors of type {type!r}")
    doc: JSON = {
        "@context": _context(),
        "id": id,
        "type": type,
        "preferredUsername": username,
        "inbox": f"{id}/inbox",
        "outbox": f"{id}/outbox",
        "followers": f"{id}/followers",
        "following": f"{id}/following",
        "manuallyApprovesFollowers": manually_approves_followers,
        "discoverable": discoverable,
        "indexable": indexable,
        "publicKey": public_key_block(id, key_id or f"{id}#main-key", public_key_pem),
    }
    if shared_inbox:
        doc["endpoints"] = {"sharedInbox": shared_inbox}
    optional = {"name": name, "summary": summary, "url": url}
    doc.update({k: v for k, v in optional.items() if v is not None})
    if published is not None:
        doc["published"] = iso8601(published)
    if icon_url:
        icon: JSON = {"type": "Image", "url": icon_url}
        if icon_media_type:
            icon["mediaType"] = icon_media_type
        doc["icon"] = icon
    if fields:
        doc["attachment"] = [{"type": "PropertyValue", "name": k, "value": v} for k, v in fields]
    return doc


def note(
    *,
    id: str,
    attributed_to: str,
    content: str,
    published: datetime,
    to: Sequence[str],
    cc: Sequence[str] = (),
    url: str | None = None,
    summary: str | None = None,
    sensitive: bool = False,
    in_reply_to: str | None = None,
    language: str | None = None,
    tag: Sequence[JSON] = (),
    attachment: Sequence[JSON] = (),
) -> JSON:
    """A `Note` as Mastodon reads it (spec/activitypub "Status federation", checklist 12).

    `summary` is the content warning; `contentMap` is added when `language` is known.
    """
    doc: JSON = {
        "@context": _context(),
        "id": id,
        "type": "Note",
        "attributedTo": attributed_to,
        "content": content,
        "published": iso8601(published),
        "to": list(to),
        "cc": list(cc),
        "url": url or id,
        "sensitive": sensitive,
        "tag": list(tag),
        "attachment": list(attachment),
        "inReplyTo": in_reply_to,
    }
    if summary is not None:
        doc["summary"] = summary
    if language:
        doc["contentMap"] = {language: content}
    return doc


def _activity(type: str, id: str, actor: str, obj: Any, to: Sequence[str] = (), cc: Sequence[str] = ()) -> JSON:
    doc: JSON = {"@context": AS_CONTEXT, "id": id, "type": type, "actor": actor, "object": obj}
    if to:
        doc["to"] = list(to)
    if cc:
        doc["cc"] = list(cc)
    return doc


def _strip_context(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if k != "@context"}
    return obj


def create(*, id: str, actor: str, object: JSON) -> JSON:
    """`Create` wrapping an object; addressing and `published` are copied from it (AS2 §6.2)."""
    doc = _activity("Create", id, actor, _strip_context(object), object.get("to", ()), object.get("cc", ()))
    doc["@context"] = object.get("@context", AS_CONTEXT)
    if "published" in object:
        doc["published"] = object["published"]
    return doc


def update(*, id: str, actor: str, object: JSON, to: Sequence[str] = (), cc: Sequence[str] = ()) -> JSON:
    """`Update` of an object or of the actor itself (profile or key change, checklist 51)."""
    doc = _activity("Update", id, actor, _strip_context(object), to or object.get("to", ()), cc or object.get("cc", ()))
    doc["@context"] = object.get("@context", AS_CONTEXT)
    return doc


def follow(*, id: str, actor: str, object: str) -> JSON:
    """`Follow` of a remote actor; `to` names it so Mastodon treats it as addressed."""
    return _activity("Follow", id, actor, object, to=[object])


def accept(*, id: str, actor: str, object: JSON | str) -> JSON:
    """`Accept` of a Follow, embedding the original Follow with its id so servers can match it."""
    original = _strip_context(object)
    target = original.get("actor") if isinstance(original, dict) else None
    return _activity("Accept", id, actor, original, to=[target] if isinstance(target, str) else [])


def reject(*, id: str, actor: str, object: JSON | str) -> JSON:
    """`Reject` of a Follow (or other request), embedding the original like `accept`."""
    original = _strip_context(object)
    target = original.get("actor") if isinstance(original, dict) else None
    return _activity("Reject", id, actor, original, to=[target] if isinstance(target, str) else [])


def undo(*, id: str, actor: str, object: JSON | str, to: Sequence[str] = ()) -> JSON:
    """`Undo` of a Follow, Like, Announce or Block; embed the original activity where possible."""
    return _activity("Undo", id, actor, _strip_context(object), to=to)


def like(*, id: str, actor: str, object: str, to: Sequence[str] = ()) -> JSON:
    """`Like` of an object (Mastodon: favourite)."""
    return _activity("Like", id, actor, object, to=to)


def announce(
    *, id: str, actor: str, object: str, published: datetime, to: Sequence[str], cc: Sequence[str] = ()
) -> JSON:
    """`Announce` (boost) of an object."""
    doc = _activity("Announce", id, actor, object, to=to, cc=cc)
    doc["published"] = iso8601(published)
    return doc


def delete(*, id: str, actor: str, object: JSON | str, to: Sequence[str], cc: Sequence[str] = ()) -> JSON:
    """`Delete` of an object (embed a `tombstone`) or of the actor itself (object = actor id)."""
    return _activity("Delete", id, actor, _strip_context(object), to=to, cc=cc)


def tombstone(*, id: str, former_type: str | None = None, deleted: datetime | None = None) -> JSON:
    """A `Tombstone` (AS2 §5.9) to serve (with 410) or embed in `Delete`."""
    doc: JSON = {"id": id, "type": "Tombstone"}
    if former_type:
        doc["formerType"] = former_type
    if deleted is not None:
        doc["deleted"] = iso8601(deleted)
    return doc
