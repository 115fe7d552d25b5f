"""Local actors (users and the instance actor), user accounts, and the cache of remote actors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fediserver.models.base import Base, utcnow


class LocalActor(Base):
    """An actor this instance speaks for, with its RSA key pair (PEM).

    Users are ``Person`` (or ``Service`` for bots); the instance actor, which signs fetches made on the
    instance's own behalf, is the one ``Application``.
    """

    __tablename__ = "local_actors"
    __table_args__ = (CheckConstraint("actor_type IN ('Person', 'Service', 'Application')", name="actor_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    actor_type: Mapped[str] = mapped_column(String(16), default="Person")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    # The bio as typed, before rendering (Mastodon's ``source.note``); None for bios set before 0016.
    summary_source: Mapped[str | None] = mapped_column(Text, default=None)
    manually_approves_followers: Mapped[bool] = mapped_column(Boolean, default=False)
    private_key_pem: Mapped[str] = mapped_column(Text)
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Profile (issue 9, migration 0005). Images are media-store keys; fields are
    # ``{"name", "value", "verified_at"}`` dicts, ``verified_at`` set by rel=me verification.
    avatar_key: Mapped[str | None] = mapped_column(String(512), default=None)
    avatar_media_type: Mapped[str | None] = mapped_column(String(100), default=None)
    header_key: Mapped[str | None] = mapped_column(String(512), default=None)
    header_media_type: Mapped[str | None] = mapped_column(String(100), default=None)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    indexable: Mapped[bool] = mapped_column(Boolean, default=True)
    also_known_as: Mapped[list[str]] = mapped_column(JSON, default=list)
    moved_to: Mapped[str | None] = mapped_column(String(2048), default=None)
    # A deleted account keeps its row (and keys, to sign the Delete); everything else is scrubbed.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # Moderation (migration 0022), as Mastodon's ``accounts.suspended_at`` and ``silenced_at``.
    suspended_at: Mapped[datetime | None] = mapped_column(default=None)
    silenced_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User | None] = relationship(back_populates="actor", uselist=False)


ROLES = ("user", "moderator", "admin")


class User(Base):
    """A person who logs in; owns exactly one local actor.

    ``role`` is ``user``, ``moderator`` (moderation pages) or ``admin`` (also settings and roles);
    ``is_admin`` is kept equal to ``role == "admin"`` for the code that predates roles.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("local_actors.id", ondelete="CASCADE"), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_approved: Mapped[bool] = mapped_column(Boolean, default=True)
    role: Mapped[str] = mapped_column(String(16), default="user", server_default="user")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Posting defaults (migration 0017), Mastodon's ``source[privacy|sensitive|language]``.
    default_visibility: Mapped[str] = mapped_column(String(16), default="public")
    default_sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    default_language: Mapped[str | None] = mapped_column(String(16), default=None)

    actor: Mapped[LocalActor] = relationship(back_populates="user", lazy="joined")

    @property
    def is_moderator(self) -> bool:
        return self.is_admin or self.role in ("moderator", "admin")


class RemoteActor(Base):
    """What we last fetched of an actor on another server; ``raw`` keeps the whole document."""

    __tablename__ = "remote_actors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uri: Mapped[str] = mapped_column(String(2048), unique=True)
    domain: Mapped[str] = mapped_column(String(255), index=True)
    actor_type: Mapped[str] = mapped_column(String(32), default="Person")
    preferred_username: Mapped[str] = mapped_column(String(255), default="")
    display_name: Mapped[str] = mapped_column(String(500), default="")
    summary_html: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(2048), default=None)
    icon_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    inbox: Mapped[str] = mapped_column(String(2048))
    shared_inbox: Mapped[str | None] = mapped_column(String(2048), default=None)
    outbox: Mapped[str | None] = mapped_column(String(2048), default=None)
    followers_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    following_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    key_id: Mapped[str | None] = mapped_column(String(2048), index=True, default=None)
    public_key_pem: Mapped[str | None] = mapped_column(Text, default=None)
    manually_approves_followers: Mapped[bool] = mapped_column(Boolean, default=False)
    moved_to: Mapped[str | None] = mapped_column(String(2048), default=None)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
