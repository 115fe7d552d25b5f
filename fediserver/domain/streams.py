"""Streaming events, recorded by the domain in the same transaction as the change they announce.

Every interface (Mastodon API, web UI, C2S, CLI, the GPU worker's generated posts) and every source
(inbound federation) goes through the domain, so recording here is what makes the streaming API see them
all (MD:/methods/streaming/#events). Events go to the ``stream_events`` outbox (``models.streams``); the
web processes relay them to their clients. Stream keys name who may receive an event:

- a public status: ``public``, ``public:local`` or ``public:remote`` (and their ``:media`` forms when it
  has media), ``hashtag:<tag>`` (and ``hashtag:local:<tag>`` when local), unless its author is kept off
  the public feeds (silenced or suspended: ``moderation.in_public_feeds``, as the REST timelines);
- a public, unlisted or followers-only status: ``user:<id>`` of its local author and of each local
  account that follows the author (followers-only posts reach nobody else);
- a direct status: ``direct:<id>`` of its local author and of each local account it addresses;
- a boost of a public or unlisted status: ``user:<id>`` of each local account that follows the booster,
  as ``reblog`` (sent as ``update`` with the boost's Status) and, when undone, ``unreblog`` (sent as
  ``delete`` with the boost's id). Home timelines show exactly those boosts (``timelines.home``); public
  streams get none, as public timelines show none (Mastodon's ``FanOutOnWriteService`` returns before
  its public and hashtag streams for a reblog);
- a notification: ``user:<id>`` and ``user:notification:<id>`` of its recipient.

The web process renders each event for each viewer and checks again that the viewer may see it, and that
the viewer does not mute or block, nor is blocked by, its author or booster (``mastodon.streaming.render``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, exists, insert, inspect, select
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from fediserver.domain.memo import cached
from fediserver.domain.moderation import in_public_feeds
from fediserver.models import Announce, Follow, LocalActor, MediaAttachment, Note, StreamEventRow
from fediserver.urls import Urls

STATUS_EVENTS = ("update", "status.update", "delete")
BOOST_EVENTS = ("reblog", "unreblog")
BOOSTED = ("public", "unlisted")
FOLLOWERS = "stream_followers"
PENDING = "fediserver.stream_events.pending"
_TABLE = cast(Table, StreamEventRow.__table__)
# Set on a session that wrote events, for ``mastodon.streaming.relay`` to wake its relays after the commit.
WROTE = "stream_events"
_TAG = re.compile(r"(?:^|[^\w&/])#(\w{1,100})")


def tags_of(note: Note) -> set[str]:
    """The note's hashtags, lower-cased: from its ``tags`` when it has Hashtag entries or is remote (the
    tag index, and so the REST tag timelines, take a remote post's hashtags from its ``tag`` only, as
    Mastodon does), else its text."""
    named = {
        str(t.get("name", "")).lstrip("#").lower()
        for t in note.tags or []
        if isinstance(t, dict) and t.get("type") == "Hashtag" and t.get("name")
    }
    if named or note.local_actor_id is None:
        return named
    text = note.source_text if note.source_text is not None else re.sub(r"<[^>]+>", "", note.content)
    return {t.lower() for t in _TAG.findall(text)}


async def _local_ids(session: AsyncSession, urls: Urls, uris: list[str]) -> list[int]:
    prefix = urls.actor("")
    names = [uri[len(prefix) :] for uri in uris if uri.startswith(prefix)]
    if not names:
        return []
    return list(await session.scalars(select(LocalActor.id).where(LocalActor.username.in_(names))))


async def _media_and_listed(session: AsyncSession, note: Note) -> tuple[bool, bool]:
    """Whether the note has media, and whether its author may appear in public feeds (not silenced)."""
    loaded = "attachments" in inspect(note).dict  # with the note (the inbound worker's): not asked again
    if loaded and note.local_actor_id is None:  # ``in_public_feeds`` holds every remote note
        # Returned before the condition is built: building it was a sixth of the inbox worker's CPU per post.
        return bool(note.attachments), True
    listed = exists().where(Note.id == note.id, in_public_feeds())
    if loaded:
        return bool(note.attachments), bool(await session.scalar(select(listed)))
    found = (await session.execute(select(exists().where(MediaAttachment.note_id == note.id), listed))).one()
    return bool(found[0]), bool(found[1])


async def status_keys(session: AsyncSession, urls: Urls, note: Note) -> tuple[str, ...]:
    """The stream keys a status event goes to (module docstring)."""
    keys: list[str] = []
    local = note.local_actor_id is not None
    if note.visibility == "direct":
        addressed = await _local_ids(session, urls, [*note.to, *note.cc])
        ids = ([note.local_actor_id] if note.local_actor_id is not None else []) + addressed
        return tuple(dict.fromkeys(f"direct:{i}" for i in ids))
    if note.visibility == "public":
        has_media, listed = await _media_and_listed(session, note)
        if listed:
            scopes = ["public", "public:local" if local else "public:remote"]
            keys += scopes + ([f"{s}:media" for s in scopes] if has_media else [])
            for tag in sorted(tags_of(note)):
                keys.append(f"hashtag:{tag}")
                if local:
                    keys.append(f"hashtag:local:{tag}")
    if note.local_actor_id is not None:
        keys.append(f"user:{note.local_actor_id}")
    keys += await _followers(session, urls, note.attributed_to)
    return tuple(dict.fromkeys(keys))


async def _followers(session: AsyncSession, urls: Urls, uri: str) -> list[str]:
    """``user:<id>`` of the local accounts following ``uri``; remembered for the transaction (``memo``)."""
    known = cached(session, FOLLOWERS, (Follow, LocalActor))
    if uri not in known:
        await preload_followers(session, urls, [uri])
    return list(known[uri])


async def preload_followers(session: AsyncSession, urls: Urls, uris: Iterable[str]) -> None:
    """Remember the stream keys of the local followers of each of ``uris`` in two queries: the inbox
    worker runs a batch of posts by many authors in one transaction."""
    known = cached(session, FOLLOWERS, (Follow, LocalActor))
    wanted = set(uris) - known.keys()
    if not wanted:
        return
    prefix = urls.actor("")
    rows = list(await session.execute(_local_follows(), {"followed": list(wanted), "prefix": prefix}))
    names = {follower[len(prefix) :] for _, follower in rows}
    ids = {}
    if names:
        found = await session.execute(_local_ids_by_name(), {"names": list(names)})
        ids = {name: id_ for name, id_ in found}
    for uri in wanted:
        known[uri] = []
    for followed, follower in sorted(rows):
        local = ids.get(follower[len(prefix) :])
        if local is not None:
            known[followed].append(f"user:{local}")


async def status_event(session: AsyncSession, urls: Urls, note: Note, event: str) -> None:
    """Record ``update``, ``status.update`` or ``delete`` (and ``unreblog`` of each of its boosts) for a
    flushed note; sent if the caller commits."""
    if event not in STATUS_EVENTS:
        raise ValueError(f"unknown status event {event!r}")
    keys = await status_keys(session, urls, note)
    if keys:
        _record(session, event, note.id, list(keys))
    if event == "delete":
        # Its boosts go with it, each by its own id (Mastodon's ``RemoveStatusService`` removes reblogs).
        for boost in await session.scalars(select(Announce).where(Announce.note_uri == note.uri)):
            await boost_event(session, urls, boost, note, "unreblog")


async def boost_event(session: AsyncSession, urls: Urls, boost: Announce, note: Note, event: str) -> None:
    """Record ``reblog`` for a flushed boost of ``note``, or ``unreblog`` before the boost is deleted
    (module docstring); sent if the caller commits."""
    if event not in BOOST_EVENTS:
        raise ValueError(f"unknown boost event {event!r}")
    if note.visibility not in BOOSTED:
        return
    keys = await _followers(session, urls, boost.actor_uri)
    if keys:
        _record(session, event, boost.id, keys, boost.created_at)


def notification_event(session: AsyncSession | Session, notification_id: int, recipient_id: int) -> None:
    """Record the ``notification`` event for a written notification row (also from a ``before_commit``
    listener that runs before this module's, given the sync session: ``domain.notifications``)."""
    keys = [f"user:{recipient_id}", f"user:notification:{recipient_id}"]
    _record(session, "notification", notification_id, keys)


def _record(
    session: AsyncSession | Session, event: str, subject_id: int, keys: list[str], subject_at: Any = None
) -> None:
    """Queue an event row; the transaction's rows are written together, in the order recorded, in one
    statement just before it commits (``_write``), and dropped if it rolls back. Added to the session one
    by one, they cost an INSERT each: SQLite gives SQLAlchemy no order for ``RETURNING`` of many rows, so it
    inserts ORM objects one at a time, and the inbox worker records two events per inbound post."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    if not sync.in_transaction():
        sync.begin()  # so that a rollback or close before any statement ends it, and drops the rows
    pending: list[dict[str, Any]] | None = sync.info.get(PENDING)
    if pending is None:
        pending = sync.info[PENDING] = []
        listen_before_commit(sync)
    row = {"event": event, "subject_id": subject_id, "keys": keys, "subject_at": subject_at}
    pending.append(row)


# ``preload_followers``' two queries, built once: the inbox worker runs them every transaction.
@functools.cache
def _local_follows() -> Select[str, str]:
    return select(Follow.followed_uri, Follow.follower_uri).where(
        Follow.followed_uri.in_(bindparam("followed", expanding=True)),
        Follow.state == "accepted",
        Follow.follower_uri.startswith(bindparam("prefix")),
    )


@functools.cache
def _local_ids_by_name() -> Select[str, int]:
    return select(LocalActor.username, LocalActor.id).where(LocalActor.username.in_(bindparam("names", expanding=True)))


def listen_before_commit(sync: Session) -> None:
    """Have this session write its recorded events before it commits; a writer that records events from
    its own ``before_commit`` listener calls this first and listens in front (``insert=True``), so that
    its events are written in the same dispatch."""
    if not sa_event.contains(sync, "before_commit", _write):
        sa_event.listen(sync, "before_commit", _write)
        sa_event.listen(sync, "after_transaction_end", _drop)


def _write(session: Session) -> None:
    # Also at a savepoint's commit: the rows then join the enclosing transaction, and go if it rolls back.
    rows = session.info.pop(PENDING, None)
    if rows:
        # Core, not the ORM's bulk insert, which leaves out keys that are None in every row and so splits a
        # mixed list into several statements.
        session.execute(insert(_TABLE), rows)
        session.info[WROTE] = True


def _drop(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING, None)
