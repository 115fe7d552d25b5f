"""What a local user keeps for themselves: bookmarks and mutes (Mastodon's ``Bookmark`` and ``Mute``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fediserver.models.base import Base, utcnow


class Bookmark(Base):
    """``local_actor_id`` bookmarked ``note_id``; private to the user, never federated."""

    __tablename__ = "bookmarks"
    __table_args__ = (UniqueConstraint("local_actor_id", "note_id", name="uq_bookmarks_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"), index=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mute(Base):
    """``local_actor_id`` muted the actor ``target_uri`` (local or remote); private, never federated.

    A mute hides the target's posts from the user's timelines; ``notifications`` also hides their
    notifications (Mastodon's default is true). ``expires_at`` ends it (None: until unmuted).
    """

    __tablename__ = "mutes"
    __table_args__ = (UniqueConstraint("local_actor_id", "target_uri", name="uq_mutes_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"), index=True)
    target_uri: Mapped[str] = mapped_column(String(2048), index=True)
    notifications: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationState(Base):
    """What ``local_actor_id`` did with the direct-message thread rooted at ``root_note_id`` (Mastodon's
    ``AccountConversation`` unread flag and removal). Thread membership itself is read from the notes.

    Marks are note ids: the thread is read while its newest note id is at most ``read_through``, and
    stays removed while its newest note id is at most ``removed_through`` (a new message brings it back).
    """

    __tablename__ = "conversation_states"
    __table_args__ = (UniqueConstraint("local_actor_id", "root_note_id", name="uq_conversation_states_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    local_actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"), index=True)
    root_note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"), index=True)
    read_through: Mapped[int | None] = mapped_column(Integer, default=None)
    removed_through: Mapped[int | None] = mapped_column(Integer, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
