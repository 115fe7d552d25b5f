"""Mastodon's id layout: ``(unix_ms << 16) | sequence``, as decimal strings (Mastodon's ``Mastodon::Snowflake``).

Ids sort by time, and Mastodon.py's datetime cursors (``(unix_s << 16) * 1000``) land in the right place
(clients.md §2.5). The low 16 bits are the row id modulo 2**16, so an id decodes to (millisecond, row id
mod 2**16), which with the row's timestamp finds the row.

Accounts have no time to sort by: local actors are their row id, remote actors their row id plus
``REMOTE_ACCOUNT_BASE``, so the two tables never share an id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

SEQ_BITS = 16
SEQ_MASK = (1 << SEQ_BITS) - 1
REMOTE_ACCOUNT_BASE = 1 << 40
MAX_ID = (1 << 63) - 1


def snowflake(at: datetime, row_id: int) -> str:
    ms = int(at.timestamp() * 1000)
    return str((ms << SEQ_BITS) | (row_id & SEQ_MASK))


@dataclass(frozen=True)
class Snowflake:
    ms: int
    seq: int

    @classmethod
    def parse(cls, value: str | int | None) -> Snowflake | None:
        """None for anything that is not a non-negative 63-bit decimal (an unknown id is simply not found)."""
        if value is None:
            return None
        text = str(value).strip()
        if not text.isdigit() or len(text) > 19 or int(text) > MAX_ID:
            return None
        number = int(text)
        return cls(ms=number >> SEQ_BITS, seq=number & SEQ_MASK)

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.ms / 1000, UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(milliseconds=1)


def matches(
    at: InstrumentedAttribute[datetime], row_id: InstrumentedAttribute[int], sid: Snowflake
) -> ColumnElement[bool]:
    """The row this id names."""
    return and_(at >= sid.start, at < sid.end, row_id % (SEQ_MASK + 1) == sid.seq)


def older_than(
    at: InstrumentedAttribute[datetime], row_id: InstrumentedAttribute[int], sid: Snowflake
) -> ColumnElement[bool]:
    """Rows whose id is below ``sid`` (``max_id``).

    Written as one range on ``at`` and a residual test, so a timeline's time index is read as one range
    (an ``OR`` of two ranges made SQLite gather both and sort)."""
    return and_(at < sid.end, or_(at < sid.start, row_id % (SEQ_MASK + 1) < sid.seq))


def newer_than(
    at: InstrumentedAttribute[datetime], row_id: InstrumentedAttribute[int], sid: Snowflake
) -> ColumnElement[bool]:
    """Rows whose id is above ``sid`` (``since_id``/``min_id``), as one range on ``at`` (see ``older_than``)."""
    return and_(at >= sid.start, or_(at >= sid.end, row_id % (SEQ_MASK + 1) > sid.seq))


def account_id(*, local_id: int | None = None, remote_id: int | None = None) -> str:
    if local_id is not None:
        return str(local_id)
    assert remote_id is not None
    return str(REMOTE_ACCOUNT_BASE + remote_id)


def parse_account_id(value: str) -> tuple[str, int] | None:
    """("local", row id) or ("remote", row id); None for what cannot be an account id."""
    if not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    if number >= REMOTE_ACCOUNT_BASE:
        return ("remote", number - REMOTE_ACCOUNT_BASE)
    return ("local", number)
