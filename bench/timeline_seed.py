"""A timeline-shaped database for benchmarks and statement-count tests: many accounts, posts, media,
likes, boosts, replies, bookmarks, mutes and mentions, bulk-inserted (one ``executemany`` per batch).

``seed`` is idempotent: a database that already holds the seeded ``reader`` is left as it is, so a
benchmark's second run skips the minutes of inserting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.models import (
    Announce,
    Bookmark,
    Follow,
    Like,
    LocalActor,
    MediaAttachment,
    Mute,
    Note,
    Notification,
    RemoteActor,
    User,
)
from fediserver.urls import Urls

READER = "reader"
BATCH = 5000
START = datetime(2026, 1, 1, tzinfo=UTC)
TEXT = (
    "<p>Evening light over the harbour, the third try with this prompt. "
    '<a href="https://example.com/x" rel="nofollow noopener">example.com/x</a></p>'
)


@dataclass(frozen=True)
class Shape:
    accounts: int = 1000
    posts: int = 100_000
    followed: int = 100


async def _bulk(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for base in range(0, len(rows), BATCH):
        await session.execute(insert(model), rows[base : base + BATCH])


async def seeded(session: AsyncSession) -> bool:
    return (
        await session.scalar(select(func.count()).select_from(LocalActor).where(LocalActor.username == READER))
    ) == 1


async def seed(session: AsyncSession, urls: Urls, shape: Shape) -> None:
    """Half the accounts local, half remote; the reader follows ``shape.followed`` of them (mutes two).

    Posts go round the accounts; every 4th has an image, every 10th replies to the one before, every
    3rd has two likes, every 20th is boosted by a followed account, every 50th is bookmarked by the
    reader and every 100th mentions the reader. The reader is a user (no password: it logs in with a
    token, ``fediserver token create reader``); keys are placeholders, as nothing here is signed.
    The caller commits.
    """
    await _bulk(
        session,
        LocalActor,
        [{"username": READER, "display_name": "Reader", "private_key_pem": "-", "public_key_pem": "-"}]
        + [
            {"username": f"local{i}", "display_name": f"Local {i}", "private_key_pem": "-", "public_key_pem": "-"}
            for i in range(shape.accounts // 2)
        ],
    )
    remote = shape.accounts - shape.accounts // 2
    await _bulk(
        session,
        RemoteActor,
        [
            {
                "uri": f"https://remote{i % 50}.example/users/r{i}",
                "domain": f"remote{i % 50}.example",
                "preferred_username": f"r{i}",
                "display_name": f"Remote {i}",
                "inbox": f"https://remote{i % 50}.example/users/r{i}/inbox",
                "raw": {},
            }
            for i in range(remote)
        ],
    )
    local_ids = {name: row_id for name, row_id in await session.execute(select(LocalActor.username, LocalActor.id))}
    reader_id, reader_uri = local_ids[READER], urls.actor(READER)
    await _bulk(session, User, [{"actor_id": reader_id, "password_hash": "-"}])
    authors: list[tuple[str, int | None]] = [
        (urls.actor(f"local{i}"), local_ids[f"local{i}"]) for i in range(shape.accounts // 2)
    ]
    authors += [(f"https://remote{i % 50}.example/users/r{i}", None) for i in range(remote)]
    followed = [uri for uri, _ in authors[:: max(1, len(authors) // shape.followed)]][: shape.followed]
    await _bulk(
        session,
        Follow,
        [
            {
                "activity_uri": f"{reader_uri}#follows/{n}",
                "follower_uri": reader_uri,
                "followed_uri": uri,
                "state": "accepted",
            }
            for n, uri in enumerate(followed)
        ],
    )
    await _bulk(session, Mute, [{"local_actor_id": reader_id, "target_uri": uri} for uri in followed[1:3]])
    notes: list[dict[str, Any]] = []
    for i in range(shape.posts):
        uri, local_id = authors[i % len(authors)]
        notes.append(
            {
                "uri": f"{uri}/statuses/{i}",
                "url": f"{uri}/statuses/{i}",
                "local_actor_id": local_id,
                "attributed_to": uri,
                "content": TEXT,
                "visibility": "public" if i % 7 else "unlisted",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
                "cc": [],
                "in_reply_to_uri": notes[-1]["uri"] if i % 10 == 9 else None,
                "published_at": START + timedelta(seconds=i),
            }
        )
    await _bulk(session, Note, notes)
    ids = {uri: row_id for uri, row_id in await session.execute(select(Note.uri, Note.id))}
    await _bulk(
        session,
        MediaAttachment,
        [
            {
                "note_id": ids[n["uri"]],
                "storage_key": f"ab/{i:064d}.webp",
                "media_type": "image/webp",
                "width": 512,
                "height": 512,
                "blurhash": "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
                "description": "A harbour at dusk",
            }
            for i, n in enumerate(notes)
            if i % 4 == 0
        ],
    )
    likers = [authors[0][0], authors[1][0], reader_uri]
    await _bulk(
        session,
        Like,
        [
            {"activity_uri": f"{n['uri']}#likes/{k}", "actor_uri": likers[(i + k) % 3], "note_uri": n["uri"]}
            for i, n in enumerate(notes)
            if i % 3 == 0
            for k in range(2)
        ],
    )
    await _bulk(
        session,
        Announce,
        [
            {
                "activity_uri": f"{n['uri']}#boosts/1",
                "actor_uri": followed[i % len(followed)],
                "note_uri": n["uri"],
                "created_at": START + timedelta(seconds=i, milliseconds=500),
            }
            for i, n in enumerate(notes)
            if i % 20 == 0
        ],
    )
    await _bulk(
        session,
        Bookmark,
        [{"local_actor_id": reader_id, "note_id": ids[n["uri"]]} for i, n in enumerate(notes) if i % 50 == 0],
    )
    await _bulk(
        session,
        Notification,
        [
            {
                "local_actor_id": reader_id,
                "type": "mention",
                "from_actor_uri": n["attributed_to"],
                "note_uri": n["uri"],
                "dedupe_key": f"mention:{i}",
                "subject_at": n["published_at"],
            }
            for i, n in enumerate(notes)
            if i % 100 == 0
        ],
    )
