"""``Idempotency-Key`` on outbox POST (c2s.md §7 rule 5): §6 discards client ids, so a client that retries
after a lost answer would post twice; with the same key and the same token within an hour (the window the
Mastodon API keeps for statuses) the server answers the first activity's ``Location`` and does nothing.

The key row is written after the activity is made, in the same transaction, so nothing has been written
while the activity's handler fetches remote actors or objects (it may release its connection then:
``federation.connections``). A concurrent retry with the same key meets the unique index: the second to
write rolls its whole activity back and answers the first's ``Location``; if the first fails, its
rollback frees the key for the retry.
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


async def record(session: AsyncSession, token_id: int, key: str, location: str) -> bool:
    """Keep ``location`` as the answer for this key; False when a concurrent request holds the key (the
    caller rolls its activity back and re-reads with :func:`earlier`)."""
    await session.execute(
        delete(OutboxIdempotencyKey).where(
            OutboxIdempotencyKey.token_id == token_id,
            OutboxIdempotencyKey.key == key,
            OutboxIdempotencyKey.created_at <= utcnow() - WINDOW,
        )
    )
    try:
        async with session.begin_nested():
            session.add(OutboxIdempotencyKey(token_id=token_id, key=key, location=location))
    except IntegrityError:
        return False
    return True
