"""Authentication of local users for the generation and writing-help APIs: HTTP Basic (RFC 7617), an
OAuth bearer token with the endpoint's scope, or the web UI's session cookie.

A cookie rides along on cross-site requests, so a cookie-authenticated POST must also carry the
session's CSRF token in ``X-CSRF-Token`` (a header another site's form cannot set).
"""

from __future__ import annotations

import base64
import binascii

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from fediserver.errors import AppError
from fediserver.logins import check_credentials
from fediserver.mastodon.auth import caller
from fediserver.models import LocalActor
from fediserver.websessions import SESSION_COOKIE, check_csrf, current_session

CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Unauthenticated(AppError):
    status_code = 401


class CsrfRequired(AppError):
    status_code = 403


async def authenticate(request: Request, session: AsyncSession, *, scope: str = "generate") -> LocalActor:
    """The local actor named by ``Authorization: Basic``, by a bearer token granted ``scope``, or else
    logged in by the session cookie; 401 with a reason otherwise (403 for a token without the scope, or a
    cookie POST without its CSRF token)."""
    header = request.headers.get("authorization", "")
    if not header and SESSION_COOKIE in request.cookies:
        return await _from_cookie(request, session)
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "bearer":
        return (await caller(request, session, scope)).actor
    if scheme.lower() != "basic" or not encoded:
        raise Unauthenticated(
            "authentication required: HTTP Basic with a local user's name and password, or a bearer token"
        )
    try:
        username, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed Basic credentials") from None
    if not sep:
        raise Unauthenticated("malformed Basic credentials")
    user = await check_credentials(session, username, password)
    if user is None:
        raise Unauthenticated("wrong username or password")
    if user.actor.suspended_at is not None:
        raise Unauthenticated("this account is suspended")
    return user.actor


async def _from_cookie(request: Request, session: AsyncSession) -> LocalActor:
    web_session = await current_session(session, request)
    if web_session is None or not web_session.user.is_approved or web_session.user.actor.suspended_at is not None:
        raise Unauthenticated("session expired: log in again")
    if request.method not in SAFE_METHODS and not check_csrf(web_session.csrf_token, request.headers.get(CSRF_HEADER)):
        raise CsrfRequired("a cookie-authenticated request must send the session's X-CSRF-Token header")
    return web_session.user.actor
