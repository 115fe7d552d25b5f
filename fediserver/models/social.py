"""Follows, notes, media attachments, likes and boosts, for local and remote actors alike.

Actors are referred to by their ActivityPub id (``*_uri``), so one table serves every pairing of local
and remote; local rows also carry a foreign key to ``local_actors``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fediserver.models.base import Base, utcnow

VISIBILITIES = ("public", "unlisted", "followers", "direct")


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (
        UniqueConstraint("follower_uri", "followed_uri", name="uq_follows_pair"),
        CheckConstraint("state IN ('pending', 'accepted', 'rejected')", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_uri: Mapped[str] = mapped_column(String(2048), unique=True)
    follower_uri: Mapped[str] = mapped_column(String(2048), index=True)
    followed_uri: Mapped[str] = mapped_column(String(2048), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Note(Base):
    """A post. ``content`` is HTML: ours as we render it, remote ones after sanitising."""

    __tablename__ = "notes"
    __table_args__ = (
        CheckConstraint("visibility IN ('public', 'unlisted', 'followers', 'direct')", name="visibility"),
        # An account's posts newest first (account timelines, the home timeline's followed authors).
        # Also every look-up by author: no index of its own (migration 0032).
        Index("ix_notes_author_published", "attributed_to", "published_at"),
        # Only rows with a value (most posts are remote and reply to nothing); queries compare with a value.
        *(
            Index(
                f"ix_notes_{column}",
                column,
                sqlite_where=text(f"{column} IS NOT NULL"),
                postgresql_where=text(f"{column} IS NOT NULL"),
            )
            for column in ("local_actor_id", "in_reply_to_uri")
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    local_actor_id: Mapped[int | None] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"), default=None)
    attributed_to: Mapped[str] = mapped_column(String(2048))
    url: Mapped[str | None] = mapped_column(String(2048), default=None)
    content: Mapped[str] = mapped_column(Text, default="")
    source_text: Mapped[str | None] = mapped_column(Text, default=None)
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    to: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc: Mapped[list[str]] = mapped_column(JSON, default=list)
    in_reply_to_uri: Mapped[str | None] = mapped_column(String(2048), default=None)
    # The remote document as received, kept for the record and never shown: left out of every load (a
    # timeline page would decode forty of them), and reading it without ``undefer`` raises.
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None, deferred=True, deferred_raiseload=True)
    published_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    generation_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("generation_jobs.id", ondelete="SET NULL"), default=None
    )
    # ActivityStreams ``tag`` objects of a local note (Mention, Hashtag), as sent.
    tags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Custom emoji of a remote note: ``[{"shortcode", "url"}]`` from its ``Emoji`` tags (checklist 15).
    emojis: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)

    attachments: Mapped[list[MediaAttachment]] = relationship(
        back_populates="note", order_by="MediaAttachment.position"
    )


class MediaAttachment(Base):
    """An image: a file under the media folder (``storage_key``) or a remote reference (``remote_url``)."""

    __tablename__ = "media_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    note_id: Mapped[int | None] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), index=True, default=None)
    local_actor_id: Mapped[int | None] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"), default=None)
    position: Mapped[int] = mapped_column(Integer, default=0)
    storage_key: Mapped[str | None] = mapped_column(String(512), default=None)
    remote_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    media_type: Mapped[str] = mapped_column(String(100))
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    blurhash: Mapped[str | None] = mapped_column(String(100), default=None)
    # Generated images keep their PNG original and a small preview beside the web rendition.
    original_key: Mapped[str | None] = mapped_column(String(512), default=None)
    thumbnail_key: Mapped[str | None] = mapped_column(String(512), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    # Focal point as Mastodon's ``focalPoint``: x right, y up, each in [-1, 1] (checklist 16).
    focus_x: Mapped[float | None] = mapped_column(Float, default=None)
    focus_y: Mapped[float | None] = mapped_column(Float, default=None)
    generation_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("generation_jobs.id", ondelete="SET NULL"), index=True, default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    note: Mapped[Note | None] = relationship(back_populates="attachments")


class Like(Base):
    __tablename__ = "likes"
    __table_args__ = (UniqueConstraint("actor_uri", "note_uri", name="uq_likes_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_uri: Mapped[str] = mapped_column(String(2048), unique=True)
    actor_uri: Mapped[str] = mapped_column(String(2048), index=True)
    note_uri: Mapped[str] = mapped_column(String(2048), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Announce(Base):
    __tablename__ = "announces"
    __table_args__ = (
        UniqueConstraint("actor_uri", "note_uri", name="uq_announces_pair"),
        # Boosts by followed accounts, newest first (the home timeline).
        Index("ix_announces_actor_created", "actor_uri", "created_at"),
        # All boosts newest first: PostgreSQL walks it and stops at a page (migration 0023).
        Index("ix_announces_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_uri: Mapped[str] = mapped_column(String(2048), unique=True)
    actor_uri: Mapped[str] = mapped_column(String(2048), index=True)
    note_uri: Mapped[str] = mapped_column(String(2048), index=True)
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
