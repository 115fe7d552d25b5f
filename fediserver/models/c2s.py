"""What the C2S outbox remembers between requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
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


class SentActivity(Base):
    """An activity a local actor sent that no other row can be rendered from (Update, Delete, Add, Remove
    of a post), kept as delivered so that its id dereferences (ActivityPub §3.1, §6: the outbox's
    ``Location``). ``public`` says whether anyone may read it, else only its owner's token."""

    __tablename__ = "sent_activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"))
    note_id: Mapped[int | None] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), index=True, default=None)
    kind: Mapped[str] = mapped_column(String(32))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
