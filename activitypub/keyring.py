"""Verify-then-refetch for remote keys (Mastodon `signature_verification.rb`; SWICG "How to verify" step 10).

When a signature fails with a cached key, the key owner is re-fetched once and the check retried
(key rotation). Re-fetches are rate-limited per host so forged requests cannot make us hammer a
server (checklist 25). Storage and fetching are the caller's: both are passed in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from .errors import KeyMismatchError
from .keys import PublicKey
from .window import Clock

T = TypeVar("T")


@dataclass(slots=True)
class RefetchLimiter:
    """Allows one key re-fetch per host per `interval` (Mastodon wraps these in a 5-minute breaker)."""

    clock: Clock
    interval: timedelta = timedelta(minutes=5)
    _last: dict[str, datetime] = field(default_factory=dict)

    def allow(self, key_id: str) -> bool:
        """True (and records the attempt) when `key_id`'s host may be re-fetched now."""
        host = (urlsplit(key_id).hostname or "").lower()
        now = self.clock()
        last = self._last.get(host)
        if last is not None and now - last < self.interval:
            return False
        self._last[host] = now
        return True


async def verify_with_refetch(
    key_id: str,
    cached: PublicKey | None,
    verify: Callable[[PublicKey], T],
    refetch: Callable[[str], Awaitable[PublicKey]],
    limiter: RefetchLimiter,
) -> T:
    """Run `verify(key)` with the cached key; on `KeyMismatchError`, re-fetch once and retry.

    With no cached key the key is fetched (not rate-limited: nothing to retry yet). A re-fetch the
    limiter refuses re-raises the original error. Other signature errors (digest, time window,
    coverage) are not key problems and propagate at once.
    """
    if cached is None:
        return verify(await refetch(key_id))
    try:
        return verify(cached)
    except KeyMismatchError:
        if not limiter.allow(key_id):
            raise
    return verify(await refetch(key_id))
