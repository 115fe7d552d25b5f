"""Who may say what: the signer is the actor, and ids live on the actor's origin (federation.md §5)."""

from __future__ import annotations

from typing import Any

import activitypub as ap
from fediserver.federation.convert import same_origin

JSON = dict[str, Any]

# Activities whose object must belong to the actor (FEP-fe34: Update/Delete/Undo by the owner only).
OWNED_OBJECT_TYPES = frozenset({"Create", "Update", "Delete", "Undo"})


class OriginError(Exception):
    """The activity claims something its signer may not say; the message says what."""


def check_activity(activity: JSON, signer_uri: str) -> None:
    """Checklist 29–31: actor == signer, activity id and owned object ids on the actor's origin."""
    actor = ap.get_id(activity.get("actor"))
    if actor != signer_uri:
        raise OriginError(f"activity actor {actor!r} is not the signer {signer_uri}")
    activity_id = activity.get("id")
    if not isinstance(activity_id, str) or not activity_id.startswith(("https://", "http://")):
        raise OriginError("activity has no http(s) id")
    if not same_origin(activity_id, actor):
        raise OriginError(f"activity id {activity_id} is not on the actor's origin")
    types = ap.get_types(activity)
    if not types:
        raise OriginError("activity has no type")
    obj = activity.get("object")
    object_id = ap.get_id(obj)
    if types[0] in OWNED_OBJECT_TYPES:
        if object_id is None:
            raise OriginError(f"{types[0]} has no object id")
        if not same_origin(object_id, actor):
            raise OriginError(f"{types[0]} object {object_id} is not on the actor's origin")
        if isinstance(obj, dict):
            owner = ap.get_id(obj.get("attributedTo")) or ap.get_id(obj.get("actor"))
            if owner is not None and owner != actor and object_id != actor:
                raise OriginError(f"{types[0]} object belongs to {owner}, not {actor}")
    if types[0] == "Update" and isinstance(obj, dict) and ap.has_type(obj, *ap.ACTOR_TYPES) and object_id != actor:
        raise OriginError("an actor may only update itself")
