"""Pinned posts: the notes shown in a local actor's ``featured`` collection."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fediserver.models.base import Base, utcnow


class Pin(Base):
    """``local_actor_id`` pinned ``note_id`` (one of their own posts) at ``created_at``."""

    __tablename__ = "pins"
    __table_args__ = (UniqueConstraint("local_actor_id", "note_id", name="uq_pins_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"), index=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
