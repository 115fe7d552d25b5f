"""Origin-based trust checks on activities and keys (FEP-fe34; federation.md §5, checklist 29–32, 35).

An origin is (scheme, host, port), lowercased, with default ports made explicit. These are pure
functions over already-fetched JSON; the caller decides what to fetch.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidObject, SignatureError
from .vocab import ACTOR_TYPES, get_id, get_ids, get_types

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> Origin:
    """The FEP-fe34 origin of an http(s) URL; raises `InvalidObject` for anything else."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise InvalidObject(f"not an http(s) URL: {url!r}")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise InvalidObject(f"bad port in {url!r}") from exc
    return scheme, parts.hostname.lower(), port


def same_origin(a: str, b: str) -> bool:
    """True when both URLs have the same origin.

    ``a`` starting with ``b``'s literal ``scheme://authority/`` has ``b``'s origin without being parsed (the
    authority ends at the first ``/``): the inbox asks this of every post against its author.
    """
    prefix = _authority_prefix(b)
    if a.startswith(prefix):
        return True
    return origin(a) == origin(b)


@functools.lru_cache(maxsize=4096)
def _authority_prefix(url: str) -> str:
    """``scheme://authority/`` of a valid http(s) URL, literally as written; raises like `origin`."""
    origin(url)
    scheme_end = url.index("://") + 3
    path_start = len(url)
    for stop in "/?#":
        found = url.find(stop, scheme_end)
        if found != -1:
            path_start = min(path_start, found)
    return url[:path_start] + "/"


def check_signer(key_owner: str, activity: Mapping[str, Any]) -> None:
    """The signing key's owner must be the activity's `actor` (Mastodon drops it otherwise; checklist 29).

    A relayed activity needs another proof (LD signature or FEP-8b32) checked by the caller instead.
    """
    actor = get_id(activity.get("actor"))
    if actor != key_owner:
        raise SignatureError(f"activity actor {actor!r} is not the signer {key_owner!r}")


def _owner(obj: Mapping[str, Any]) -> str | None:
    if any(t in ACTOR_TYPES for t in get_types(obj)):
        return get_id(obj)
    return get_id(obj.get("attributedTo")) or get_id(obj.get("actor"))


def check_activity_origins(activity: Mapping[str, Any]) -> None:
    """Origin rules for an inbound activity (checklist 30, 31); raises `InvalidObject`.

    The activity id and the actor share an origin; a Create/Update object's id and `attributedTo`
    share the actor's origin; `Update` of an actor must update the sender itself; an embedded object
    of `Update`/`Delete`/`Undo` must be owned by the actor. Announce and Like may point elsewhere.
    """
    actor = get_id(activity.get("actor"))
    activity_id = get_id(activity.get("id"))
    if actor is None or activity_id is None:
        raise InvalidObject("activity lacks id or actor")
    if not same_origin(activity_id, actor):
        raise InvalidObject(f"activity id {activity_id} is not on the actor's origin {actor}")
    types = set(get_types(activity))
    obj = activity.get("object")
    if isinstance(obj, Mapping) and types & {"Create", "Update"}:
        object_id = get_id(obj)
        if object_id is None or not same_origin(object_id, actor):
            raise InvalidObject(f"object id {object_id!r} is not on the actor's origin")
        for author in get_ids(obj.get("attributedTo")):
            if not same_origin(author, actor):
                raise InvalidObject(f"attributedTo {author} is not on the actor's origin")
    updates_actor = isinstance(obj, Mapping) and any(t in ACTOR_TYPES for t in get_types(obj))
    if "Update" in types and updates_actor and get_id(obj) != actor:
        raise InvalidObject("Update of an actor must come from that actor")
    if types & {"Update", "Delete", "Undo"} and isinstance(obj, Mapping):
        owner = _owner(obj)
        if owner is not None and owner != actor:
            raise InvalidObject(f"{sorted(types)} of an object owned by {owner} sent by {actor}")


def embedded_needs_refetch(activity: Mapping[str, Any]) -> bool:
    """True when `object` is embedded from another origin than the activity (checklist 32).

    Such objects are untrusted copies: re-fetch them by `id` (Mastodon `dereference_object!`).
    """
    obj = activity.get("object")
    activity_id = get_id(activity.get("id"))
    if not isinstance(obj, Mapping) or activity_id is None:
        return False
    object_id = get_id(obj)
    return object_id is None or not same_origin(object_id, activity_id)


def check_key_ownership(
    key_id: str, key_document: Mapping[str, Any], actor_document: Mapping[str, Any], actor_fetched_from: str
) -> str:
    """Check that `key_id` belongs to the actor, both ways (checklist 35); returns the actor id.

    The key document's `id` must equal `key_id`; its `owner` (or `controller`) names the actor; the
    actor document must have been served at its own `id` (no redirect to another id, Fedify
    GHSA-8863-8468-7hq7) and must list the key under `publicKey`. When the key is embedded in the
    actor (`…#main-key`), pass the `publicKey` block as `key_document`.
    """
    if get_id(key_document) != key_id:
        raise SignatureError(f"key document id {get_id(key_document)!r} is not the keyId {key_id!r}")
    owner = get_id(key_document.get("owner")) or get_id(key_document.get("controller"))
    actor_id = get_id(actor_document)
    if owner is None or owner != actor_id:
        raise SignatureError(f"key {key_id} names owner {owner!r}, not the actor {actor_id!r}")
    if actor_fetched_from != actor_id:
        raise SignatureError(f"actor {actor_id} was served from {actor_fetched_from}; ownership not confirmed")
    if not same_origin(key_id, actor_id):
        raise SignatureError(f"key {key_id} is not on the actor's origin")
    if key_id not in get_ids(actor_document.get("publicKey")):
        raise SignatureError(f"actor {actor_id} does not list key {key_id}")
    return actor_id
