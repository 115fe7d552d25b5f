"""OAuth 2 applications, authorization codes and access tokens (RFC 6749), as Mastodon's Doorkeeper keeps them.

Secrets (client secrets, codes, access and refresh tokens) are stored only as SHA-256 digests, so a leaked
table grants nothing; the clear values are shown once, when issued.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fediserver.models.actors import User
from fediserver.models.base import Base, utcnow


class OAuthApplication(Base):
    """A registered client (``POST /api/v1/apps``); Mastodon has only confidential clients."""

    __tablename__ = "oauth_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(2048), default=None)
    # One URI per line, as Doorkeeper stores them.
    redirect_uris: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(1000))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # FEP-d8c2: the client document's URL, the ``client_id`` such a client sends (``oauth.client_documents``).
    client_url: Mapped[str | None] = mapped_column(String(2048), default=None, unique=True, index=True)


class OAuthAuthorizationCode(Base):
    """A one-time code from the consent page, with its PKCE challenge (RFC 7636)."""

    __tablename__ = "oauth_authorization_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("oauth_applications.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(1000))
    code_challenge: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class OAuthToken(Base):
    """An access token (and its refresh token); ``user_id`` is None for a client_credentials app token."""

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("oauth_applications.id", ondelete="CASCADE"), index=True, default=None
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None)
    scopes: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    application: Mapped[OAuthApplication | None] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(lazy="joined")


class StatusIdempotencyKey(Base):
    """``Idempotency-Key`` of ``POST /api/v1/statuses``: the same key within an hour returns the same status."""

    __tablename__ = "status_idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_status_idempotency_keys_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
