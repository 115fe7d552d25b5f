"""Streaming events, recorded by the domain in the same transaction as the change they announce.

Every interface (Mastodon API, web UI, C2S, CLI, the GPU worker's generated posts) and every source
(inbound federation) goes through the domain, so recording here is what makes the streaming API see them
all (MD:/methods/streaming/#events). Events go to the ``stream_events`` outbox (``models.streams``); the
web processes relay them to their clients. Stream keys name who may receive an event:

- a public status: ``public``, ``public:local`` or ``public:remote`` (and their ``:media`` forms when it
  has media), ``hashtag:<tag>`` (and ``hashtag:local:<tag>`` when local);
- a public, unlisted or followers-only status: ``user:<id>`` of its local author and of each local
  account that follows the author (followers-only posts reach nobody else);
- a direct status: ``direct:<id>`` of its local author and of each local account it addresses;
- a notification: ``user:<id>`` and ``user:notification:<id>`` of its recipient.

The web process renders each event for each viewer and checks again that the viewer may see it.
"""

from __future__ import annotations

import re

from sqlalchemy import exists, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.models import Follow, LocalActor, MediaAttachment, Note, Notification, StreamEventRow
from fediserver.urls import Urls

STATUS_EVENTS = ("update", "status.update", "delete")
_TAG = re.compile(r"(?:^|[^\w&/])#(\w{1,100})")


def tags_of(note: Note) -> set[str]:
    """The note's hashtags, lower-cased: from its ``tags`` when it has Hashtag entries, else its text."""
    named = {
        str(t.get("name", "")).lstrip("#").lower()
        for t in note.tags or []
        if isinstance(t, dict) and t.get("type") == "Hashtag" and t.get("name")
    }
    if named:
        return named
    text = note.source_text if note.source_text is not None else re.sub(r"<[^>]+>", "", note.content)
    return {t.lower() for t in _TAG.findall(text)}


async def _local_ids(session: AsyncSession, urls: Urls, uris: list[str]) -> list[int]:
    prefix = urls.actor("")
    names = [uri[len(prefix) :] for uri in uris if uri.startswith(prefix)]
    if not names:
        return []
    return list(await session.scalars(select(LocalActor.id).where(LocalActor.username.in_(names))))


async def _has_media(session: AsyncSession, note: Note) -> bool:
    if "attachments" in inspect(note).dict:  # loaded with the note (the inbound worker's): no query
        return bool(note.attachments)
    return bool(await session.scalar(select(exists().where(MediaAttachment.note_id == note.id))))


async def status_keys(session: AsyncSession, urls: Urls, note: Note) -> tuple[str, ...]:
    """The stream keys a status event goes to (module docstring)."""
    keys: list[str] = []
    local = note.local_actor_id is not None
    if note.visibility == "direct":
        addressed = await _local_ids(session, urls, [*note.to, *note.cc])
        ids = ([note.local_actor_id] if note.local_actor_id is not None else []) + addressed
        return tuple(dict.fromkeys(f"direct:{i}" for i in ids))
    if note.visibility == "public":
        has_media = await _has_media(session, note)
        scopes = ["public", "public:local" if local else "public:remote"]
        keys += scopes + ([f"{s}:media" for s in scopes] if has_media else [])
        for tag in sorted(tags_of(note)):
            keys.append(f"hashtag:{tag}")
            if local:
                keys.append(f"hashtag:local:{tag}")
    if note.local_actor_id is not None:
        keys.append(f"user:{note.local_actor_id}")
    followers = await session.scalars(
        select(Follow.follower_uri).where(
            Follow.followed_uri == note.attributed_to,
            Follow.state == "accepted",
            Follow.follower_uri.startswith(urls.actor("")),
        )
    )
    keys += [f"user:{i}" for i in await _local_ids(session, urls, list(followers))]
    return tuple(dict.fromkeys(keys))


async def status_event(session: AsyncSession, urls: Urls, note: Note, event: str) -> None:
    """Record ``update``, ``status.update`` or ``delete`` for a flushed note; sent if the caller commits."""
    if event not in STATUS_EVENTS:
        raise ValueError(f"unknown status event {event!r}")
    keys = await status_keys(session, urls, note)
    if keys:
        session.add(StreamEventRow(event=event, subject_id=note.id, keys=list(keys)))


def notification_event(session: AsyncSession, notification: Notification) -> None:
    """Record the ``notification`` event for a flushed notification row."""
    recipient = notification.local_actor_id
    keys = [f"user:{recipient}", f"user:notification:{recipient}"]
    session.add(StreamEventRow(event="notification", subject_id=notification.id, keys=keys))
