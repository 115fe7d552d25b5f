"""Registering clients and issuing, exchanging, refreshing and revoking grants (RFC 6749 §4, §6; RFC 7009).

Every secret is random (256 bits) and stored as its SHA-256; lookups are by digest, so comparisons of the
secret itself never happen in Python.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.models import OAuthApplication, OAuthAuthorizationCode, OAuthToken, User, utcnow
from fediserver.oauth.scopes import InvalidScope, Scopes

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)
# Doorkeeper's forbid_redirect_uri: schemes that would run code in the browser.
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript"})


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``error`` is the code, ``description`` is safe to show."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedToken:
    row: OAuthToken
    access_token: str
    refresh_token: str | None


def parse_redirect_uris(value: str | list[str]) -> list[str]:
    """One URI, several joined by newlines (Mastodon.py), or a list (4.3); each absolute and harmless."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise OAuthError(422, "Validation failed", "Validation failed: Redirect URI must be a string")
    uris = [u.strip() for item in items for u in item.split("\n") if u.strip()]
    if not uris:
        raise OAuthError(422, "Validation failed", "Validation failed: Redirect URI can't be blank")
    for uri in uris:
        if uri == OOB:
            continue
        reason = f"Validation failed: Redirect URI must be an absolute URI: {uri}"
        refused = OAuthError(422, "Validation failed", reason)
        try:
            parts = urlsplit(uri)
        except ValueError:  # "http://[::1": an unclosed IPv6 literal was a 500 (issue 8)
            raise refused from None
        # Ivory registers "com.tapbots.Ivory.N:/request_token/…": a custom scheme with one slash (clients.md row 10).
        if not parts.scheme or parts.scheme.lower() in FORBIDDEN_SCHEMES or parts.fragment or len(uri) > 2000:
            raise refused
    return uris


async def register_app(
    session: AsyncSession, name: str, redirect_uris: list[str], scopes: Scopes, website: str | None
) -> tuple[OAuthApplication, str]:
    """A new confidential client and its clear secret (shown once); the caller commits."""
    secret = new_secret()
    app = OAuthApplication(
        name=name[:200],
        website=website or None,
        redirect_uris="\n".join(redirect_uris),
        scopes=str(scopes),
        client_id=secrets.token_urlsafe(32),
        client_secret_hash=digest(secret),
    )
    session.add(app)
    await session.flush()
    return app, secret


async def find_app(session: AsyncSession, client_id: str) -> OAuthApplication | None:
    app: OAuthApplication | None = await session.scalar(
        select(OAuthApplication).where(OAuthApplication.client_id == client_id)
    )
    return app


async def authenticate_client(session: AsyncSession, client_id: str, client_secret: str) -> OAuthApplication:
    app = await find_app(session, client_id) if client_id else None
    if app is None or not hmac.compare_digest(app.client_secret_hash, digest(client_secret)):
        raise OAuthError(401, "invalid_client", "Client authentication failed due to unknown client or wrong secret.")
    return app


def requested_scopes(app: OAuthApplication, text: str | None) -> Scopes:
    """The scopes asked for (default: the app's first, ``read``), which must lie within the app's."""
    registered = Scopes.parse(app.scopes)
    try:
        asked = Scopes.parse(text) if text else Scopes.parse(None)
    except InvalidScope as exc:
        raise OAuthError(400, "invalid_scope", str(exc)) from None
    if not asked.within(registered):
        raise OAuthError(400, "invalid_scope", "The requested scope is invalid, unknown, or malformed.")
    return asked


async def issue_code(
    session: AsyncSession,
    app: OAuthApplication,
    user: User,
    redirect_uri: str,
    scopes: Scopes,
    code_challenge: str | None,
) -> str:
    code = new_secret()
    now = utcnow()
    session.add(
        OAuthAuthorizationCode(
            code_hash=digest(code),
            application_id=app.id,
            user_id=user.id,
            redirect_uri=redirect_uri,
            scopes=str(scopes),
            code_challenge=code_challenge,
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
    )
    await session.flush()
    return code


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest()).rstrip(b"=").decode()


async def issue_token(
    session: AsyncSession, app: OAuthApplication | None, user: User | None, scopes: Scopes, *, refresh: bool = True
) -> IssuedToken:
    access = new_secret()
    refresh_token = new_secret() if refresh else None
    row = OAuthToken(
        token_hash=digest(access),
        refresh_token_hash=digest(refresh_token) if refresh_token else None,
        application_id=app.id if app else None,
        user_id=user.id if user else None,
        scopes=str(scopes),
    )
    session.add(row)
    await session.flush()
    return IssuedToken(row, access, refresh_token)


async def exchange_code(
    session: AsyncSession, app: OAuthApplication, code: str, redirect_uri: str, verifier: str | None
) -> IssuedToken:
    """RFC 6749 §4.1.3: the code is single-use, unexpired, this client's, for this redirect URI, PKCE-checked."""
    row = await session.scalar(select(OAuthAuthorizationCode).where(OAuthAuthorizationCode.code_hash == digest(code)))
    invalid = OAuthError(
        400,
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI "
        "used in the authorization request, or was issued to another client.",
    )
    if row is None or row.application_id != app.id or row.used_at is not None or row.expires_at <= utcnow():
        raise invalid
    if row.redirect_uri != redirect_uri:
        raise invalid
    if row.code_challenge is not None and (not verifier or not hmac.compare_digest(s256(verifier), row.code_challenge)):
        raise invalid
    # Single use even under a race: only one UPDATE finds used_at still NULL.
    claimed = await session.execute(
        update(OAuthAuthorizationCode)
        .where(OAuthAuthorizationCode.id == row.id, OAuthAuthorizationCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise invalid
    user = await session.get(User, row.user_id)
    if user is None:
        raise invalid
    return await issue_token(session, app, user, Scopes.parse(row.scopes))


async def refresh_grant(session: AsyncSession, app: OAuthApplication, refresh_token: str) -> IssuedToken:
    """RFC 6749 §6: a new pair; the old access and refresh tokens are revoked."""
    row = await session.scalar(select(OAuthToken).where(OAuthToken.refresh_token_hash == digest(refresh_token)))
    if row is None or row.application_id != app.id or row.revoked_at is not None:
        raise OAuthError(
            400, "invalid_grant", "The refresh token is invalid, revoked, or was issued to another client."
        )
    row.revoked_at = utcnow()
    return await issue_token(session, app, row.user, Scopes.parse(row.scopes))


async def revoke(session: AsyncSession, app: OAuthApplication, token: str) -> None:
    """RFC 7009: an access or refresh token of this client; unknown tokens are fine, others' are 403."""
    hashed = digest(token)
    row = await session.scalar(
        select(OAuthToken).where((OAuthToken.token_hash == hashed) | (OAuthToken.refresh_token_hash == hashed))
    )
    if row is None:
        return
    if row.application_id != app.id:
        raise OAuthError(403, "unauthorized_client", "You are not authorized to revoke this token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()


async def token_from_bearer(session: AsyncSession, bearer: str) -> OAuthToken | None:
    """The live token for an ``Authorization: Bearer`` value, else None."""
    if not bearer or len(bearer) > 200:
        return None
    row: OAuthToken | None = await session.scalar(select(OAuthToken).where(OAuthToken.token_hash == digest(bearer)))
    if row is None or row.revoked_at is not None:
        return None
    return row
