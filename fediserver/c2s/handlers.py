"""One handler per activity type a client may POST to its outbox (ActivityPub §6.3–6.11).

Each maps the activity onto the same domain function the CLI and the Mastodon API call, and returns the
id of the activity the server made (the ``Location`` of the 201). Ownership: Update and Delete only the
principal's posts, Add and Remove only on the principal's ``featured``, Undo only the principal's
activities (§6.10: the Undo and the undone activity have the same actor).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

import activitypub as ap
from fediserver.c2s.context import Outbox, object_id
from fediserver.c2s.create import create, text_of
from fediserver.c2s.submission import BadActivity, Submission, WrongActor
from fediserver.domain import posts, profiles, reactions, relations, sent
from fediserver.federation.sanitize import plain_text
from fediserver.models import ActorBlock, Announce, Follow, Like, Note

Handler = Callable[[Outbox, Submission], Awaitable[str]]

# Mastodon's scope for the same action (docs.joinmastodon.org/api/oauth-scopes/).
SCOPES = {
    "Create": "write:statuses",
    "Update": "write:statuses",
    "Delete": "write:statuses",
    "Announce": "write:statuses",
    "Like": "write:favourites",
    "Follow": "write:follows",
    "Block": "write:blocks",
    "Add": "write:accounts",
    "Remove": "write:accounts",
}


async def update(box: Outbox, sub: Submission) -> str:
    """§6.3: a partial update; each key sent replaces the stored value, ``null`` removes it."""
    if not isinstance(sub.object, dict):
        raise BadActivity("object: Update needs the changed object with its id")
    changes: dict[str, Any] = sub.object
    note = await box.my_note(object_id(changes))
    summary = changes.get("summary", note.summary)
    if summary is not None and not isinstance(summary, str):
        raise BadActivity("summary: a string or null is required")
    edit = posts.PostEdit(
        text=text_of(changes) if "content" in changes or "source" in changes else note.source_text or "",
        summary=plain_text(summary or ""),
        sensitive=changes["sensitive"] is True if "sensitive" in changes else note.sensitive,
    )
    edited = await posts.edit_post(box.svc, box.session, box.me, note.uri, edit)
    return await _kept(box, edited, "update")


async def delete(box: Outbox, sub: Submission) -> str:
    """§6.4: the post becomes a Tombstone (served with 410); the Delete is served at its own id."""
    note = await box.my_note(object_id(sub.object))
    await posts.delete_post(box.svc, box.session, box.me, note.uri)
    return await _kept(box, note, "delete")


async def follow(box: Outbox, sub: Submission) -> str:
    """§6.5: pending until the Accept arrives; ``following`` lists it only then."""
    row = await relations.follow(box.svc, box.session, box.me, object_id(sub.object))
    return row.activity_uri


async def like(box: Outbox, sub: Submission) -> str:
    """§6.8: the post is added to the user's likes."""
    row = await reactions.like(box.svc, box.session, box.me, object_id(sub.object))
    return row.activity_uri


async def announce(box: Outbox, sub: Submission) -> str:
    row = await reactions.boost(box.svc, box.session, box.me, object_id(sub.object))
    return row.activity_uri


async def block(box: Outbox, sub: Submission) -> str:
    """§6.9: stored and served to its owner, never delivered to its object; follows between them end."""
    row = await relations.block_actor(box.svc, box.session, box.me, object_id(sub.object))
    return row.activity_uri


def _featured(box: Outbox, sub: Submission) -> str:
    mine = box.svc.urls.featured(box.me.username)
    if sub.target != mine:
        raise WrongActor(f"target: only {mine} can be changed by this user")
    return mine


async def add(box: Outbox, sub: Submission) -> str:
    """§6.6: pin a post to ``featured``. A post pinned before Adds were kept answers with the collection."""
    mine = _featured(box, sub)
    note = await box.my_note(object_id(sub.object))
    await profiles.pin(box.svc, box.session, box.me, note.uri)
    await box.session.flush()
    return await sent.latest(box.session, box.me, note, "add") or mine


async def remove(box: Outbox, sub: Submission) -> str:
    """§6.7: unpin a post from ``featured``."""
    _featured(box, sub)
    note = await box.my_note(object_id(sub.object))
    await profiles.unpin(box.svc, box.session, box.me, note.uri)
    return await _kept(box, note, "remove")


async def _kept(box: Outbox, note: Note, kind: str) -> str:
    """The id the domain gave the activity it just sent about ``note`` (``domain.sent``)."""
    await box.session.flush()
    uri = await sent.latest(box.session, box.me, note, kind)
    if uri is None:
        raise RuntimeError(f"the domain kept no {kind} of {note.uri}")
    return uri


async def undone(box: Outbox, sub: Submission) -> tuple[str, str, str]:
    """(type, object, id) of the activity an Undo names, embedded or by the id this server gave it; the id
    is always the one this server gave it (the client's may be missing or made up, §6)."""
    inner = sub.object
    me = box.me_uri
    if isinstance(inner, dict):
        kind = inner.get("type")
        if kind not in ("Follow", "Like", "Announce", "Block"):
            raise BadActivity(f"object: only Follow, Like, Announce and Block can be undone, not {kind!r}")
        if inner.get("actor") is not None and ap.get_id(inner["actor"]) != me:
            raise WrongActor("the Undo and the undone activity must have the same actor (§6.10)")
        target = object_id(inner.get("object"))
        by_object = {
            "Follow": select(Follow.activity_uri).where(Follow.followed_uri == target, Follow.follower_uri == me),
            "Like": select(Like.activity_uri).where(Like.note_uri == target, Like.actor_uri == me),
            "Announce": select(Announce.activity_uri).where(Announce.note_uri == target, Announce.actor_uri == me),
            "Block": select(ActorBlock.activity_uri).where(ActorBlock.target_uri == target, ActorBlock.actor_uri == me),
        }
        found = await box.session.scalar(by_object[str(kind)])
        return str(kind), target, found or str(ap.get_id(inner) or "")
    uri = object_id(inner)
    lookups = (
        ("Follow", select(Follow.followed_uri).where(Follow.activity_uri == uri, Follow.follower_uri == me)),
        ("Like", select(Like.note_uri).where(Like.activity_uri == uri, Like.actor_uri == me)),
        ("Announce", select(Announce.note_uri).where(Announce.activity_uri == uri, Announce.actor_uri == me)),
        ("Block", select(ActorBlock.target_uri).where(ActorBlock.activity_uri == uri, ActorBlock.actor_uri == me)),
    )
    for kind, query in lookups:
        named = await box.session.scalar(query)
        if named is not None:
            return kind, named, uri
    raise BadActivity(f"object-does-not-exist: {uri} is not an activity of {me} that can be undone")


async def undo(box: Outbox, sub: Submission) -> str:
    """§6.10: the side effects are reverted by the domain's inverse operation."""
    kind, target, uri = await undone(box, sub)
    undoers = {
        "Follow": relations.unfollow,
        "Block": relations.unblock_actor,
        "Like": reactions.unlike,
        "Announce": reactions.unboost,
    }
    await undoers[kind](box.svc, box.session, box.me, target)
    # The domain gives every Undo the id ``<activity>/undo``; served by ``c2s.activities``.
    return box.svc.urls.undo(uri) if uri else box.me_uri


HANDLERS: dict[str, Handler] = {
    "Create": create,
    "Update": update,
    "Delete": delete,
    "Follow": follow,
    "Like": like,
    "Announce": announce,
    "Block": block,
    "Add": add,
    "Remove": remove,
    "Undo": undo,
}
