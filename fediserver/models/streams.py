"""``stream_events``: the streaming API's transactional outbox.

A change that clients should hear of (a post, an edit, a deletion, a notification) writes its event here
in the same transaction, from whichever process made it (a web process, the GPU worker, the CLI), so an
event exists exactly when its change committed. Web processes tail the table and hand the events to their
broker (``fediserver.mastodon.streaming.relay``); rows are pruned after a few minutes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fediserver.models.base import Base, utcnow


class StreamEventRow(Base):
    """``event`` (update, status.update, delete: ``subject_id`` is a note; reblog, unreblog: a boost;
    notification: a notification) for the stream keys in ``keys``. ``subject_at`` is when the boost of an
    ``unreblog`` was made: its row is gone, and the id clients know it by is made of both. ``relayed``
    once a web process has claimed it for a shared broker."""

    __tablename__ = "stream_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column(Integer)
    keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject_at: Mapped[datetime | None] = mapped_column(default=None)
    relayed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
