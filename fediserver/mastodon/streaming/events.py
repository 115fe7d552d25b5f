"""Which streams a status event goes to, and publishing it (MD:/methods/streaming/#streams).

A public status goes to ``public`` and ``public:local`` or ``public:remote`` (and their ``:media`` forms
when it has media) and to ``hashtag:<tag>``; any status goes to the ``user`` stream of its local author
and of each local follower of its author.
"""

from __future__ import annotations

import re

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.mastodon.entities.status import status_id
from fediserver.mastodon.streaming.broker import Broker, StreamEvent
from fediserver.models import Follow, LocalActor, MediaAttachment, Note
from fediserver.urls import Urls

_TAG = re.compile(r"(?:^|[^\w&/])#(\w{1,100})")


def tags_of(note: Note) -> set[str]:
    text = note.source_text if note.source_text is not None else re.sub(r"<[^>]+>", "", note.content)
    return {t.lower() for t in _TAG.findall(text)}


async def stream_keys(session: AsyncSession, urls: Urls, note: Note) -> tuple[str, ...]:
    keys: list[str] = []
    local = note.local_actor_id is not None
    if note.visibility == "public":
        has_media = bool(await session.scalar(select(exists().where(MediaAttachment.note_id == note.id))))
        scopes = ["public", "public:local" if local else "public:remote"]
        keys += scopes + ([f"{s}:media" for s in scopes] if has_media else [])
        for tag in tags_of(note):
            keys.append(f"hashtag:{tag}")
            if local:
                keys.append(f"hashtag:local:{tag}")
    if note.visibility != "direct":
        prefix = urls.actor("")
        follower_names = [
            uri[len(prefix) :]
            for uri in await session.scalars(
                select(Follow.follower_uri).where(
                    Follow.followed_uri == note.attributed_to,
                    Follow.state == "accepted",
                    Follow.follower_uri.startswith(prefix),
                )
            )
        ]
        if note.local_actor_id is not None:
            keys.append(f"user:{note.local_actor_id}")
        if follower_names:
            ids = await session.scalars(select(LocalActor.id).where(LocalActor.username.in_(follower_names)))
            keys += [f"user:{i}" for i in ids]
    return tuple(dict.fromkeys(keys))


async def publish(broker: Broker, session: AsyncSession, urls: Urls, note: Note, event: str) -> None:
    """Announce ``update``/``delete``/``status.update`` for a stored (committed) status."""
    keys = await stream_keys(session, urls, note)
    if keys:
        await broker.publish(StreamEvent(event=event, status_id=status_id(note), note_id=note.id, keys=keys))
