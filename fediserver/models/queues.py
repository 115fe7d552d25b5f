"""The durable queues: inbound activities, deliveries and generations.

Each row is a job with a state, attempts, ``next_attempt_at`` and a lease (``locked_until``); see
``fediserver.jobs.queue`` for how workers claim them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fediserver.models.base import Base, QueueMixin, claim_index, utcnow

JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
_STATE_CHECK = "state IN ('queued', 'running', 'done', 'failed', 'cancelled')"


class InboundActivity(Base, QueueMixin):
    """A verified activity as received; the inbox stores it and answers 202, the worker processes it.

    ``activity_id`` is unique, so a redelivered activity is recognised and not processed twice.
    """

    __tablename__ = "inbound_activities"
    __table_args__ = (
        CheckConstraint(_STATE_CHECK, name="state"),
        claim_index("inbound_activities"),
        # A sender's jobs by state: a claim asks, for each candidate, whether an older job of its sender is
        # running (``queue.claim_ids``'s ``in_order_of``). On an index of the sender alone, SQLite read the
        # sender's whole history of done jobs for each (docs/benchmarks.md).
        Index("ix_inbound_activities_actor_state", "actor_uri", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(2048), unique=True)
    activity_type: Mapped[str] = mapped_column(String(64))
    actor_uri: Mapped[str] = mapped_column(String(2048))
    key_id: Mapped[str] = mapped_column(String(2048))
    recipient_actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("local_actors.id", ondelete="CASCADE"), default=None
    )
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)


class DeliveryJob(Base, QueueMixin):
    """One activity to one inbox; the signature is made afresh on every attempt."""

    __tablename__ = "delivery_jobs"
    __table_args__ = (CheckConstraint(_STATE_CHECK, name="state"), claim_index("delivery_jobs"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[str] = mapped_column(String(2048), index=True)
    inbox_url: Mapped[str] = mapped_column(String(2048))
    host: Mapped[str] = mapped_column(String(255), index=True)
    signer_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    give_up_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class LinkCheck(Base, QueueMixin):
    """Verify the rel=me links of a local actor's profile fields (``fediserver.domain.profiles.verify_links``)
    in the worker, so saving a profile never waits on other sites (Mastodon's ``VerifyAccountLinksWorker``)."""

    __tablename__ = "link_checks"
    __table_args__ = (CheckConstraint(_STATE_CHECK, name="state"), claim_index("link_checks"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


GENERATION_PURPOSES = ("post", "avatar", "header")


class GenerationJob(Base, QueueMixin):
    """A text-to-image request; every parameter needed to reproduce the image is kept, the seed first.

    ``purpose`` says where the image goes: a post (or just the media library), or the owner's avatar
    or header.
    """

    __tablename__ = "generation_jobs"
    __table_args__ = (CheckConstraint(_STATE_CHECK, name="state"), claim_index("generation_jobs"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unguessable handle for the status and progress URLs: the sequential id would reveal others' prompts.
    token: Mapped[str] = mapped_column(String(32), unique=True)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"), index=True)
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    seed: Mapped[int] = mapped_column(BigInteger)
    model: Mapped[str] = mapped_column(String(255))
    scheduler: Mapped[str | None] = mapped_column(String(100), default=None)
    steps: Mapped[int] = mapped_column(Integer)
    guidance: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    post_text: Mapped[str | None] = mapped_column(Text, default=None)
    post_visibility: Mapped[str | None] = mapped_column(String(16), default=None)
    purpose: Mapped[str] = mapped_column(String(16), default="post")
    progress_step: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
