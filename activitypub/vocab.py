"""ActivityStreams 2.0 vocabulary: IRIs, content types, type names and readers for compacted JSON-LD.

A property may arrive as a string IRI, an embedded object, or a list of either (AS2 Core §4.1,
JSON-LD compaction); `as_list`, `get_id` and `get_ids` read every form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import InvalidObject

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_V1_CONTEXT = "https://w3id.org/security/v1"
IDENTITY_V1_CONTEXT = "https://w3id.org/identity/v1"
DATA_INTEGRITY_V1_CONTEXT = "https://w3id.org/security/data-integrity/v1"
DATA_INTEGRITY_V2_CONTEXT = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_V1_CONTEXT = "https://w3id.org/security/multikey/v1"
DID_V1_CONTEXT = "https://www.w3.org/ns/did/v1"
TOOT_NAMESPACE = "http://joinmastodon.org/ns"
GOTOSOCIAL_NAMESPACE = "https://gotosocial.org/ns"

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
# Mastodon's tag_manager.rb also accepts these compacted spellings of the public collection.
PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})

ACTIVITY_JSON = "application/activity+json"
LD_JSON_AS2 = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
JRD_JSON = "application/jrd+json"
# What Mastodon sends when fetching (jsonld_helper.rb build_request), with the AS2 profile spelled out.
AS2_ACCEPT = f"{ACTIVITY_JSON}, {LD_JSON_AS2}"

ACTOR_TYPES = frozenset({"Application", "Group", "Organization", "Person", "Service"})
ACTIVITY_TYPES = frozenset(
    {
        "Accept", "Add", "Announce", "Block", "Create", "Delete", "Flag", "Follow", "Like",
        "Move", "Reject", "Remove", "Undo", "Update",
    }
)  # fmt: skip


def is_as2_content_type(value: str | None) -> bool:
    """True for `application/activity+json`, or `application/ld+json` whose profile names AS2.

    Mastodon's `valid_activitypub_content_type?` (since 4.2.5, GHSA-jhrq-qvrm-qr36).
    """
    if not value:
        return False
    media, _, params = value.partition(";")
    media = media.strip().lower()
    if media == ACTIVITY_JSON:
        return True
    return media == "application/ld+json" and AS_CONTEXT in params


def is_public(value: Any) -> bool:
    """True when an addressing value (string, object or list) contains the public collection."""
    return any(item in PUBLIC_ALIASES for item in get_ids(value))


def as_list(value: Any) -> list[Any]:
    """A property as a list: `None` → `[]`, a single value → `[value]`, a list unchanged."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def get_id(value: Any) -> str | None:
    """The IRI of a reference: a string, an object's `id` (`@id`, a Link's `href`), or the first in a list."""
    if isinstance(value, list):
        for item in value:
            found = get_id(item)
            if found is not None:
                return found
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for name in ("id", "@id", "href"):
            candidate = value.get(name)
            if isinstance(candidate, str):
                return candidate
    return None


def get_ids(value: Any) -> list[str]:
    """Every IRI in a property, whatever its compacted form."""
    return [found for item in as_list(value) if (found := get_id(item)) is not None]


def get_types(document: Mapping[str, Any]) -> list[str]:
    """The `type` (or `@type`) values of an object as a list of strings."""
    raw = document.get("type", document.get("@type"))
    return [item for item in as_list(raw) if isinstance(item, str)]


def has_type(document: Mapping[str, Any], *names: str) -> bool:
    """True when the object has one of `names` among its types."""
    return any(name in names for name in get_types(document))


def require_id(document: Mapping[str, Any]) -> str:
    """The object's `id`; raises `InvalidObject` if it is absent or not an http(s) IRI."""
    value = document.get("id")
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise InvalidObject(f"object has no http(s) id: {value!r}")
    return value


def has_as_context(document: Mapping[str, Any]) -> bool:
    """True when `@context` contains the exact AS2 context string (Mastodon's `supported_context?`)."""
    return any(item == AS_CONTEXT for item in as_list(document.get("@context")))
