"""The clock seam and Mastodon's signature time window.

Mastodon (`signature_verification.rb`): a signature is valid from `created - 1 h` to
`min(expires or created + 5 min, created + 12 h) + 1 h`. Both cavage and RFC 9421 use it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Protocol

from .errors import SignatureError

CLOCK_SKEW = timedelta(hours=1)
DEFAULT_VALIDITY = timedelta(minutes=5)
MAX_VALIDITY = timedelta(hours=12)

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: index for index, name in enumerate(_MONTH_NAMES, 1)}
_IMF_FIXDATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (" + "|".join(_MONTH_NAMES) + r") ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)


class Clock(Protocol):
    """A callable returning the current time as an aware UTC datetime."""

    def __call__(self) -> datetime: ...


def system_clock() -> datetime:
    """The real clock; pass it where a `Clock` is expected outside tests."""
    return datetime.now(UTC)


def http_date(moment: datetime) -> str:
    """Format an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Tue, 20 Apr 2021 02:07:55 GMT`."""
    if moment.tzinfo is None:
        raise ValueError("http_date needs an aware datetime")
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_http_date(value: str) -> datetime:
    """Parse an IMF-fixdate strictly.

    `20 Dec 2022 06:34:23 UTC` is refused, as Mastodon refuses it (mastodon#22536).
    """
    match = _IMF_FIXDATE.fullmatch(value.strip())
    if match is None:
        raise SignatureError(f"Date is not an IMF-fixdate: {value!r}")
    day, month, year, hour, minute, second = match.groups()
    try:
        return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC)
    except ValueError as exc:
        raise SignatureError(f"Date is not a valid date: {value!r}") from exc


def check_window(created: datetime | None, expires: datetime | None, now: datetime) -> None:
    """Apply Mastodon's window; raises `SignatureError` outside it.

    Rejects `created > now + 1 h` and `now > min(expires or created + 5 min, created + 12 h) + 1 h`.
    """
    if created is not None:
        if created > now + CLOCK_SKEW:
            raise SignatureError("Signed request date outside acceptable time window: created is in the future")
        limit = created + MAX_VALIDITY
        expires = min(expires or created + DEFAULT_VALIDITY, limit)
    if expires is not None and now > expires + CLOCK_SKEW:
        raise SignatureError("Signed request date outside acceptable time window: signature expired")
