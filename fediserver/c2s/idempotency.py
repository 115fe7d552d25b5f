"""``Idempotency-Key`` on outbox POST (c2s.md §7 rule 5): §6 discards client ids, so a client that retries
after a lost answer would post twice; with the same key and the same token within an hour (the window the
Mastodon API keeps for statuses) the server answers the first activity's ``Location`` and does nothing.

The key row is claimed before the activity is made, in the same transaction: a concurrent retry waits on
the unique index and, once the first commits, finds its ``Location``; if the first fails, its rollback
frees the key for the retry.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.c2s.submission import BadActivity
from fediserver.models import OutboxIdempotencyKey, utcnow

WINDOW = timedelta(hours=1)
MAX_KEY = 255


def checked_key(value: str | None) -> str | None:
    """The header's key, or None without one; an empty or overlong key is 400."""
    if value is None:
        return None
    key = value.strip()
    if not key or len(key) > MAX_KEY:
        raise BadActivity(f"Idempotency-Key: 1 to {MAX_KEY} characters")
    return key


async def earlier(session: AsyncSession, token_id: int, key: str) -> str | None:
    """The ``Location`` already answered for this key and token within the window."""
    return await session.scalar(
        select(OutboxIdempotencyKey.location).where(
            OutboxIdempotencyKey.token_id == token_id,
            OutboxIdempotencyKey.key == key,
            OutboxIdempotencyKey.created_at > utcnow() - WINDOW,
            OutboxIdempotencyKey.location != "",
        )
    )


async def claim(session: AsyncSession, token_id: int, key: str) -> OutboxIdempotencyKey | None:
    """Reserve the key for a new activity; None when a concurrent request holds it (the caller re-reads)."""
    await session.execute(
        delete(OutboxIdempotencyKey).where(
            OutboxIdempotencyKey.token_id == token_id,
            OutboxIdempotencyKey.key == key,
            OutboxIdempotencyKey.created_at <= utcnow() - WINDOW,
        )
    )
    row = OutboxIdempotencyKey(token_id=token_id, key=key, location="")
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row
