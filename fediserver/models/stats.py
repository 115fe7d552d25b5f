"""Per-account counters (Mastodon's ``account_stats``), so an account entity costs one row, not three counts.

The database keeps them: triggers of migration 0023 update the row in the same statement that inserts,
soft-deletes or removes a note or changes a follow, whichever code path does it (inbox, API, CLI,
account deletion), so they cannot drift from the rows they count.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fediserver.models.base import Base


class AccountStat(Base):
    """Counts for the actor ``actor_uri`` (local or remote); no row means all zero.

    ``statuses_count`` and ``last_status_at``: its notes with no ``deleted_at``; ``followers_count`` and
    ``following_count``: ``accepted`` follows to and from it.
    """

    __tablename__ = "account_stats"

    actor_uri: Mapped[str] = mapped_column(String(2048), primary_key=True)
    statuses_count: Mapped[int] = mapped_column(Integer, default=0)
    followers_count: Mapped[int] = mapped_column(Integer, default=0)
    following_count: Mapped[int] = mapped_column(Integer, default=0)
    last_status_at: Mapped[datetime | None] = mapped_column(default=None)
