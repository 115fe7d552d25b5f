"""Checking a local user's password, for every way of logging in (Basic auth, web login, OAuth consent).

Attempts are limited per client address and per username (``LoginLimiter``), so guessing is slow from
one address and a spread-out attack on one account is slow too.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.models import LocalActor, User
from fediserver.passwords import hash_password, needs_rehash, verify_password


async def check_credentials(session: AsyncSession, username: str, password: str) -> User | None:
    """The user whose name and password these are, else None; upgrades an old hash in the session.

    The hash is checked on a thread: argon2id takes tens of milliseconds of CPU by design (33 ms here),
    which on the event loop held up every other request of the process, inbox deliveries included, for
    each HTTP Basic request and login. An unknown username is checked against a stand-in hash, so that
    the answer takes as long as for a known one (no telling which names exist by timing).
    """
    if len(username) > 64 or "\x00" in username:
        # PostgreSQL refuses NUL in text; no stored name is longer (local_actors.username is String(64)).
        return None
    user = await session.scalar(
        select(User).join(User.actor).where(LocalActor.username == username, LocalActor.actor_type != "Application")
    )
    encoded = await asyncio.to_thread(_stand_in_hash) if user is None else user.password_hash
    if not await asyncio.to_thread(verify_password, password, encoded) or user is None:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    return user


@functools.cache
def _stand_in_hash() -> str:
    """An argon2id hash of a random secret nobody knows, made at the first unknown username."""
    return hash_password(secrets.token_urlsafe(32))


@dataclass
class LoginLimiter:
    """At most ``attempts`` failed logins per key in ``window`` seconds (in this process)."""

    attempts: int = 10
    window: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def retry_after(self, *keys: str) -> float | None:
        """Seconds until another attempt is allowed for the busiest key, or None when allowed now."""
        now = time.monotonic()
        waits = [
            self.window - (now - recent[0]) for key in keys if len(recent := self._recent(key, now)) >= self.attempts
        ]
        return max(waits) if waits else None

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._recent(key, now).append(now)
        if len(self._failures) > 10_000:
            # Forget quiet keys so a scan of many usernames cannot grow this without bound.
            for key in [k for k, v in self._failures.items() if not v or now - v[-1] > self.window]:
                del self._failures[key]

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
