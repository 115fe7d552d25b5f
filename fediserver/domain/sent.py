"""Activities a local actor sent that no other row renders (Update, Delete, Add, Remove of a post).

Each gets an id of its own, ``Urls.activity(username, kind, n)``, and is kept as it was delivered, so that
the id dereferences (ActivityPub §3.1: ids are dereferenceable; §6: the outbox answers it as ``Location``).
``c2s.activities`` serves it: to anyone when ``public``, else to its owner's token only.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, desc, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.models import LocalActor, Note, SentActivity
from fediserver.urls import Urls

JSON = dict[str, Any]
KINDS = ("update", "delete", "add", "remove")
# Never stored, so never served (ActivityPub §6: bto/bcc are shown to nobody but the author).
HIDDEN = ("bto", "bcc")


def new_id(urls: Urls, author: LocalActor, kind: str) -> str:
    """A fresh id for an activity of ``kind`` (one of ``KINDS``) by ``author``."""
    return urls.activity(author.username, kind, secrets.randbits(48))


def remember(session: AsyncSession, author: LocalActor, note: Note, activity: JSON) -> SentActivity:
    """Keep ``activity`` about ``note`` as sent; public when the post is public or unlisted."""
    body = {k: v for k, v in activity.items() if k not in HIDDEN}
    row = SentActivity(
        uri=str(activity["id"]),
        local_actor_id=author.id,
        note_id=note.id,
        kind=str(activity["type"]).lower(),
        public=note.visibility in ("public", "unlisted"),
        body=body,
    )
    session.add(row)
    return row


async def latest(session: AsyncSession, author: LocalActor, note: Note, kind: str) -> str | None:
    """The id of the newest ``kind`` activity ``author`` sent about ``note``, if one was kept."""
    uri: str | None = await session.scalar(
        select(SentActivity.uri)
        .where(SentActivity.local_actor_id == author.id, SentActivity.note_id == note.id, SentActivity.kind == kind)
        .order_by(desc(SentActivity.id))
        .limit(1)
    )
    return uri


async def find(session: AsyncSession, author: LocalActor, uri: str) -> SentActivity | None:
    found: SentActivity | None = await session.scalar(
        select(SentActivity).where(SentActivity.uri == uri, SentActivity.local_actor_id == author.id)
    )
    return found


async def forget_updates(session: AsyncSession, note: Note) -> None:
    """Drop the kept Updates of a deleted post: they carry its content, which a Delete withdraws (their
    ids then answer 404, like any unknown activity)."""
    await session.execute(delete(SentActivity).where(SentActivity.note_id == note.id, SentActivity.kind == "update"))
