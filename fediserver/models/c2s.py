"""What the C2S outbox remembers between requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fediserver.models.base import Base, utcnow


class OutboxIdempotencyKey(Base):
    """``Idempotency-Key`` of an outbox POST (c2s.md §7 rule 5): the same key with the same token within an
    hour answers the ``Location`` of the first activity instead of making a second one."""

    __tablename__ = "outbox_idempotency_keys"
    __table_args__ = (UniqueConstraint("token_id", "key", name="uq_outbox_idempotency_keys_token_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("oauth_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    location: Mapped[str] = mapped_column(String(2048), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
