"""HTTP Basic authentication of local users for the API (RFC 7617); tokens come with the client API."""

from __future__ import annotations

import base64
import binascii

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from fediserver.errors import AppError
from fediserver.models import LocalActor, User
from fediserver.passwords import verify_password

MAX_USERNAME = 64


class Unauthenticated(AppError):
    status_code = 401


async def authenticate(request: Request, session: AsyncSession) -> LocalActor:
    """The local actor of the user named in ``Authorization: Basic``; 401 with a reason otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthenticated("authentication required: HTTP Basic with a local user's name and password")
    try:
        username, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed Basic credentials") from None
    if not sep:
        raise Unauthenticated("malformed Basic credentials")
    if len(username) > MAX_USERNAME or "\x00" in username:
        # PostgreSQL refuses NUL in text; no stored name is longer (local_actors.username is String(64)).
        raise Unauthenticated("wrong username or password")
    user = await session.scalar(select(User).join(User.actor).where(LocalActor.username == username))
    if user is None or not verify_password(password, user.password_hash):
        raise Unauthenticated("wrong username or password")
    return user.actor
