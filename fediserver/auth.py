"""Authentication of local users for the generation API: HTTP Basic (RFC 7617) or an OAuth bearer token."""

from __future__ import annotations

import base64
import binascii

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from fediserver.errors import AppError
from fediserver.logins import check_credentials
from fediserver.mastodon.auth import caller
from fediserver.models import LocalActor


class Unauthenticated(AppError):
    status_code = 401


async def authenticate(request: Request, session: AsyncSession, *, scope: str = "generate") -> LocalActor:
    """The local actor named by ``Authorization: Basic``, or by a bearer token granted ``scope``.

    401 with a reason otherwise; a token without the scope is 403 (the client API's rules).
    """
    header = request.headers.get("authorization", "")
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
    return user.actor
