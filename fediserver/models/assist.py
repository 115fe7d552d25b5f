"""The writing-help queue: one row per request, drained by the GPU worker beside image generation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fediserver.models.base import Base, QueueMixin, claim_index, utcnow


class AssistJob(Base, QueueMixin):
    """A writing-help request; ``output`` grows token by token while the worker writes it."""

    __tablename__ = "assist_jobs"
    __table_args__ = (
        CheckConstraint("state IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="state"),
        CheckConstraint("kind IN ('alt_text', 'rewrite', 'prompt', 'hashtags')", name="kind"),
        claim_index("assist_jobs"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unguessable handle for the status and stream URLs, as for generation jobs.
    token: Mapped[str] = mapped_column(String(32), unique=True)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    input_text: Mapped[str] = mapped_column(Text, default="")
    # The image to describe, kept in the row so a GPU worker on another machine can read it; cleared
    # once the job ends, since an upload may still carry personal metadata.
    image: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model: Mapped[str] = mapped_column(String(255))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[str] = mapped_column(Text, default="")
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    notice: Mapped[str | None] = mapped_column(Text, default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
