"""Retry policies as pure functions: (attempt, now, hints) -> when to try next, or give up."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

PERMANENT_FAILURE_STATUSES = frozenset({404, 410, 451})


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: the n-th retry waits up to ``initial * factor**(n-1)``.

    The wait is never less than ``minimum`` and never more than ``cap``.
    """

    initial: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=6)
    minimum: timedelta = timedelta(seconds=1)

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> timedelta:
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        ceiling = min(self.initial.total_seconds() * self.factor ** (attempt - 1), self.cap.total_seconds())
        # Half fixed, half random: spreads a host's retries apart without ever retrying at once.
        seconds = ceiling / 2 + rand() * ceiling / 2
        return max(timedelta(seconds=seconds), self.minimum)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); None when absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))


def next_attempt(
    attempt: int,
    now: datetime,
    give_up_at: datetime | None,
    *,
    backoff: Backoff,
    retry_after: timedelta | None = None,
    status: int | None = None,
    max_attempts: int | None = None,
    rand: Callable[[], float] = random.random,
) -> datetime | None:
    """When to try again after failed attempt number ``attempt``, or None to give up for good.

    A job gives up after ``max_attempts`` attempts even before its horizon ``give_up_at``, so a row that
    fails every time (a poisoned body, a bug) is never retried forever.
    """
    if status in PERMANENT_FAILURE_STATUSES:
        return None
    if max_attempts is not None and attempt >= max_attempts:
        return None
    delay = backoff.delay(attempt, rand)
    if retry_after is not None:
        delay = max(delay, retry_after)
    when = now + delay
    if give_up_at is not None and when > give_up_at:
        return None
    return when
