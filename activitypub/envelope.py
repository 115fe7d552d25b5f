"""An inbound activity, parsed once at the edge into checked values (`Envelope`).

`parse_activity` takes the raw body and either returns an `Envelope` or raises `InvalidObject` (or its
subclass `MalformedDocument`) with a reason fit for a 400. After it, every property a handler reads
has the shape AS2 gives it (AS2 Core §4.1: a reference is an IRI string, an embedded object, or a list
of those), so no handler meets a number where a URL belongs, a list as ``id``, a ``type`` of nested
arrays or an ``@context`` that is not one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .bounded import JsonLimits, MalformedDocument, check_url, loads_bounded
from .errors import InvalidObject
from .vocab import PUBLIC_ALIASES, get_id

# Properties whose values are references (AS2 Vocabulary §4): IRIs, embedded objects or lists of them.
REFERENCES = frozenset(
    {
        "actor", "object", "target", "origin", "result", "instrument", "attributedTo", "inReplyTo",
        "to", "cc", "bto", "bcc", "audience", "tag", "attachment", "url", "replies", "icon", "image",
        "generator", "preview", "location", "quoteUrl", "quoteUri",
    }
)  # fmt: skip
ADDRESSING = ("to", "cc", "bto", "bcc", "audience")
TEXTS = frozenset({"content", "summary", "name", "mediaType", "published", "updated", "preferredUsername"})
LANGUAGE_MAPS = frozenset({"contentMap", "summaryMap", "nameMap"})
# A Hashtag or Emoji in `tag` may be a bare string in some servers' output; nothing dereferences it.
PLAIN_STRINGS_ALLOWED = frozenset({"tag"})


@dataclass(frozen=True)
class EnvelopeLimits:
    """Counts per object beyond which an activity is refused (federation.md §5, "Limits")."""

    json: JsonLimits = field(default_factory=JsonLimits)
    max_recipients: int = 1_000  # to + cc + bto + bcc + audience of one object
    max_tags: int = 256
    max_attachments: int = 64
    max_type_length: int = 256


@dataclass(frozen=True)
class Envelope:
    """A checked activity: its id, first type, actor and object id, and the checked document."""

    id: str
    type: str
    actor: str
    object_id: str | None
    document: dict[str, Any]


def parse_activity(body: bytes | str, limits: EnvelopeLimits) -> Envelope:
    """Parse and check an inbound activity; raises `InvalidObject` with the reason."""
    document = loads_bounded(body, limits.json)
    if not isinstance(document, dict):
        raise MalformedDocument("body is not a JSON object")
    check_object(document, "activity", limits, top=True)
    types = _types(document.get("type"), "activity", limits)
    if not types:
        raise InvalidObject("activity: no type")
    actor = document.get("actor")
    if isinstance(actor, list):
        raise InvalidObject("actor: expected one actor, got a list")
    actor_id = get_id(actor)
    if actor_id is None:
        raise InvalidObject("activity: no actor")
    check_url(actor_id, "actor", fragment=False)
    return Envelope(
        id=document["id"], type=types[0], actor=actor_id, object_id=get_id(document.get("object")), document=document
    )


def _types(value: Any, what: str, limits: EnvelopeLimits) -> list[str]:
    items = value if isinstance(value, list) else [] if value is None else [value]
    for item in items:
        if not isinstance(item, str) or not item:
            raise InvalidObject(f"{what}.type: expected a non-empty string or a list of them")
        if len(item) > limits.max_type_length:
            raise InvalidObject(f"{what}.type: longer than {limits.max_type_length} characters")
    return items


def _context(value: Any) -> None:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            check_url(item, "@context")
        elif item is not None and not isinstance(item, dict):
            raise InvalidObject("@context: expected a URL, an object or a list of them")


def _reference(value: Any, what: str, name: str, limits: EnvelopeLimits) -> None:
    if isinstance(value, dict):
        check_object(value, what, limits)
    elif isinstance(value, str):
        if name in ADDRESSING and value in PUBLIC_ALIASES:
            return
        if name in PLAIN_STRINGS_ALLOWED:
            return
        check_url(value, what)
    elif value is not None:
        raise InvalidObject(f"{what}: expected a URL or an object, got {type(value).__name__}")


def check_object(document: Mapping[str, Any], what: str, limits: EnvelopeLimits, *, top: bool = False) -> None:
    """Check one object and, recursively, every object it embeds (bounded by the JSON depth limit)."""
    if "@context" in document:
        _context(document["@context"])
    if "id" in document or top:
        check_url(document.get("id"), f"{what}.id")
    if "href" in document:
        check_url(document["href"], f"{what}.href")
    _types(document.get("type"), what, limits)
    recipients = 0
    for name in REFERENCES.intersection(document):
        value = document[name]
        where = f"{what}.{name}"
        if isinstance(value, list):
            if name in ADDRESSING:
                recipients += len(value)
            elif name == "tag" and len(value) > limits.max_tags:
                raise InvalidObject(f"{where}: more than {limits.max_tags} tags")
            elif name == "attachment" and len(value) > limits.max_attachments:
                raise InvalidObject(f"{where}: more than {limits.max_attachments} attachments")
            for item in value:
                if isinstance(item, list):
                    raise InvalidObject(f"{where}: a list inside a list")
                _reference(item, where, name, limits)
        else:
            recipients += name in ADDRESSING
            _reference(value, where, name, limits)
    if recipients > limits.max_recipients:
        raise InvalidObject(f"{what}: more than {limits.max_recipients} recipients")
    for name in TEXTS.intersection(document):
        if document[name] is not None and not isinstance(document[name], str):
            raise InvalidObject(f"{what}.{name}: expected a string")
    for name in LANGUAGE_MAPS.intersection(document):
        value = document[name]
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise InvalidObject(f"{what}.{name}: expected an object of strings")
    if document.get("sensitive") is not None and not isinstance(document.get("sensitive"), bool):
        raise InvalidObject(f"{what}.sensitive: expected true or false")
