"""What posts carry beyond their own row: hashtags, edit history, notifications, resolved handles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fediserver.models.base import Base, utcnow

NOTIFICATION_TYPES = ("mention", "status", "reblog", "follow", "follow_request", "favourite", "update")


class Tag(Base):
    """A hashtag; ``name`` is normalised (``fediserver.text.entities.normalize_tag``)."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoteTag(Base):
    __tablename__ = "note_tags"

    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True)


class NoteEdit(Base):
    """One earlier version of a note, kept when an edit replaces it (Mastodon's ``status_edits``)."""

    __tablename__ = "note_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), index=True)
    content: Mapped[str] = mapped_column(Text)
    source_text: Mapped[str | None] = mapped_column(Text, default=None)
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    # The version's attachments in order, ``[{"id", "description", "focus": [x, y] | None}]`` with ``id`` a
    # ``media_attachments`` row (Mastodon's ``ordered_media_attachment_ids`` and ``media_descriptions``);
    # None where not recorded (versions kept before this column, and edits received from other servers).
    media: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    # When this version was published (the note's ``published_at`` or its previous ``updated_at``).
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """Something that happened to a local account; ``dedupe_key`` makes a repeated event one row."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(
            "type IN ('mention', 'status', 'reblog', 'follow', 'follow_request', 'favourite', 'update')",
            name="type",
        ),
        Index("ix_notifications_recipient", "local_actor_id", "id"),
        # The posts that mention a user (the home timeline).
        Index("ix_notifications_recipient_type", "local_actor_id", "type", "note_uri"),
        # The same, newest post first: the home timeline's mention part stops after a page.
        Index("ix_notifications_recipient_type_subject", "local_actor_id", "type", "subject_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    from_actor_uri: Mapped[str] = mapped_column(String(2048))
    note_uri: Mapped[str | None] = mapped_column(String(2048), default=None)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the post it is about was published (mentions; None when unknown): pages by post time.
    subject_at: Mapped[datetime | None] = mapped_column(default=None)


class AccountHandle(Base):
    """A WebFinger answer remembered: ``acct`` (``user@host``, lower-case) to the actor id it names."""

    __tablename__ = "account_handles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    acct: Mapped[str] = mapped_column(String(512), unique=True)
    actor_uri: Mapped[str] = mapped_column(String(2048))
    resolved_at: Mapped[datetime] = mapped_column(default=utcnow)
