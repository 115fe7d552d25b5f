"""Who may say what: the library's origin rules (FEP-fe34) plus the stricter ones we keep on top."""

from __future__ import annotations

from typing import Any

import activitypub as ap

JSON = dict[str, Any]

# Activities whose object must belong to the actor (FEP-fe34: Update/Delete/Undo by the owner only).
OWNED_OBJECT_TYPES = frozenset({"Create", "Update", "Delete", "Undo"})


class OriginError(Exception):
    """The activity claims something its signer may not say; ``status`` is 401 or 400."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def check_activity(activity: JSON, signer_uri: str) -> None:
    """Checklist 29–31 (``activitypub.check_signer``/``check_activity_origins``), then ours.

    On top of the library: an owned object given only by id must still be on the actor's origin, and
    a created object must be attributed to the actor itself, not to a neighbour on the same server
    (Mastodon's ``invalid_origin?`` checks hosts only).
    """
    try:
        ap.check_signer(signer_uri, activity)
    except ap.SignatureError as exc:
        raise OriginError(str(exc), status=401) from None
    try:
        ap.check_activity_origins(activity)
    except ap.InvalidObject as exc:
        raise OriginError(str(exc)) from None
    types = ap.get_types(activity)
    obj = activity.get("object")
    object_id = ap.get_id(obj)
    if types and types[0] in OWNED_OBJECT_TYPES:
        if object_id is None:
            raise OriginError(f"{types[0]} has no object id")
        if not ap.same_origin(object_id, signer_uri):
            raise OriginError(f"{types[0]} object {object_id} is not on the actor's origin")
        if types[0] == "Create" and isinstance(obj, dict):
            author = ap.get_id(obj.get("attributedTo"))
            if author is not None and author != signer_uri:
                raise OriginError(f"created object belongs to {author}, not {signer_uri}")
