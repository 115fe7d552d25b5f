"""Cookie sessions for browsers and CSRF tokens for their forms.

The cookie holds a random token; the database holds its SHA-256 (``WebSession``). Cookies are HttpOnly,
SameSite=Lax and, on an https instance, Secure. Every state-changing form carries the session's CSRF
token; forms shown before login (log-in, sign-up) use a double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from fediserver.models import User, WebSession, utcnow

SESSION_COOKIE = "fediserver_session"
CSRF_COOKIE = "fediserver_csrf"
LIFETIME = timedelta(days=30)
# Refresh last_seen/expiry at most this often, so reading pages is not a write each time.
TOUCH_EVERY = timedelta(minutes=10)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool

    @classmethod
    def for_scheme(cls, scheme: str) -> CookiePolicy:
        return cls(secure=scheme == "https")

    def set(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=self.secure)

    def clear(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=self.secure)


async def start_session(
    session: AsyncSession, user: User, response: Response, policy: CookiePolicy, *, user_agent: str = ""
) -> WebSession:
    """Log ``user`` in: a new session row and its cookie on ``response``. The caller commits."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        token_hash=_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        user_agent=user_agent[:255],
        created_at=now,
        last_seen_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(row)
    await session.flush()
    policy.set(response, SESSION_COOKIE, token, int(LIFETIME.total_seconds()))
    return row


async def current_session(session: AsyncSession, request: Request, *, now: datetime | None = None) -> WebSession | None:
    """The live session named by the request's cookie, its expiry slid forward; None when absent or expired."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 100:
        return None
    row = await session.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
    now = now or utcnow()
    if row is None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        row.expires_at = now + LIFETIME
    return row


async def end_session(session: AsyncSession, request: Request, response: Response, policy: CookiePolicy) -> None:
    """Log out: the row is deleted (so the cookie is useless even if kept) and the cookie cleared."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await session.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))
    policy.clear(response, SESSION_COOKIE)


async def end_all_sessions(session: AsyncSession, user_id: int) -> None:
    """Log a user out everywhere (password change, suspension, deletion)."""
    await session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def check_csrf(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; an absent token on either side never matches."""
    if not expected or not given:
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError and a 500, issue 8).
    return hmac.compare_digest(_octets(expected), _octets(given))


def _octets(value: str) -> bytes:
    return str(value).encode("utf-8", "surrogatepass")


def anonymous_csrf(request: Request, response: Response, policy: CookiePolicy) -> str:
    """The double-submit token for forms shown before login: reuses the cookie's, or sets a new one."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 100:
        token = secrets.token_urlsafe(32)
        policy.set(response, CSRF_COOKIE, token, None)
    return token
