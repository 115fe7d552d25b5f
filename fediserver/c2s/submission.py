"""An outbox POST parsed once at the edge into typed values (ActivityPub §6, §6.2.1).

The body is parsed with the inbox's bounds (``ap.loads_bounded``); a bare object is wrapped in a
``Create`` with its audience copied onto it (§6.2.1); the client's ``id`` is dropped (§6: the server
assigns ids); a missing ``actor`` is the token's user, a different one is refused (``principal-actor-
mismatch``, FEP-c180). What we will not take is a `BadActivity` (400) with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import activitypub as ap
from fediserver.errors import AppError

JSON = dict[str, Any]
ACTIVITY_TYPES = frozenset(
    {"Create", "Update", "Delete", "Follow", "Undo", "Like", "Announce", "Block", "Add", "Remove"}
)
# Types that are activities but that this outbox does not take (Accept/Reject go through follow requests).
OTHER_ACTIVITIES = frozenset(
    {"Accept", "Reject", "TentativeAccept", "TentativeReject", "Flag", "Move", "Dislike", "Ignore", "Invite",
     "Join", "Leave", "Offer", "Question", "Read", "Listen", "View", "Arrive", "Travel"}
)  # fmt: skip
AUDIENCE = ("to", "bto", "cc", "bcc", "audience")
PUBLIC_ALIASES = frozenset({ap.PUBLIC, "Public", "as:Public"})
LIMITS = ap.JsonLimits(max_depth=16, max_string=100_000, max_array=500, max_members=200)


class BadActivity(AppError):
    status_code = 400


class WrongActor(AppError):
    status_code = 403


@dataclass(frozen=True)
class Audience:
    """Recipients with ``Public`` normalised to its IRI and duplicates removed (§5.6)."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bto: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()

    @property
    def shown(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*self.to, *self.cc, *self.audience]))

    @property
    def hidden(self) -> tuple[str, ...]:
        shown = set(self.shown)
        return tuple(u for u in dict.fromkeys([*self.bto, *self.bcc]) if u not in shown)


@dataclass(frozen=True)
class Submission:
    """One activity as the client sent it, ids dropped, ``actor`` checked; ``object`` is a dict or an IRI."""

    type: str
    actor: str
    object: JSON | str | None
    target: str | None
    audience: Audience


def _recipients(value: Any, field: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    out: list[str] = []
    for item in items:
        uri = ap.get_id(item)
        if uri is None:
            raise BadActivity(f"{field}: expected IRIs")
        out.append(ap.PUBLIC if uri in PUBLIC_ALIASES else uri)
    return tuple(dict.fromkeys(out))


def audience_of(*docs: JSON) -> Audience:
    """The union of the documents' audiences (§6.2: Create and object share recipients)."""
    fields = {name: tuple(dict.fromkeys(u for d in docs for u in _recipients(d.get(name), name))) for name in AUDIENCE}
    return Audience(**fields)


def _single_type(doc: JSON) -> str:
    kind = doc.get("type")
    if isinstance(kind, list) and len(kind) == 1:
        kind = kind[0]
    if not isinstance(kind, str) or not kind:
        raise BadActivity("type: a single type is required")
    return kind


def _check_actor(value: Any, principal: str, field: str) -> None:
    if value is None:
        return
    if ap.get_id(value) != principal:
        raise WrongActor(f"principal-actor-mismatch: {field} must be {principal}")


def parse_submission(body: bytes, principal: str) -> Submission:
    """The activity in ``body`` as posted by ``principal``; a bare object is wrapped in a Create (§6.2.1)."""
    try:
        doc = ap.loads_bounded(body, LIMITS)
    except ap.MalformedDocument as exc:
        raise BadActivity(str(exc)) from None
    if not isinstance(doc, dict):
        raise BadActivity("body: one JSON object (an Activity or an object) is required")
    kind = _single_type(doc)
    if kind in OTHER_ACTIVITIES:
        raise BadActivity(f"unsupported-type: {kind} is not accepted at the outbox")
    if kind not in ACTIVITY_TYPES:
        # §6.2.1: a non-Activity object is wrapped in a Create, recipients copied onto it.
        doc = {"type": "Create", "object": doc, **{k: doc[k] for k in AUDIENCE if k in doc}}
        kind = "Create"
    _check_actor(doc.get("actor"), principal, "actor")
    obj = doc.get("object")
    if obj is None:
        raise BadActivity(f"object: {kind} needs an object (§7)")
    if not isinstance(obj, (dict, str)):
        raise BadActivity("object: one object or IRI")
    target = doc.get("target")
    if kind in ("Add", "Remove") and target is None:
        raise BadActivity(f"target: {kind} needs a target (§7)")
    parts = [doc, obj] if isinstance(obj, dict) and kind == "Create" else [doc]
    return Submission(
        type=kind,
        actor=principal,
        object=obj,
        target=ap.get_id(target) if target is not None else None,
        audience=audience_of(*parts),
    )
