"""Bearer-token authentication for the client API, answered Mastodon's way (docs.joinmastodon.org/api/oauth-scopes/).

No or a bad token where one is needed → 401 ``The access token is invalid``; a token without the scope →
403 ``This action is outside the authorized scopes``; an app token (client_credentials) where a user is
needed → 422 ``This method requires an authenticated user``, as Mastodon answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from fediserver.errors import AppError
from fediserver.models import LocalActor, OAuthToken, User
from fediserver.oauth.grants import token_from_bearer
from fediserver.oauth.scopes import Scopes


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class UserRequired(AppError):
    status_code = 422


@dataclass(frozen=True)
class Caller:
    token: OAuthToken
    scopes: Scopes
    user: User | None

    @property
    def actor(self) -> LocalActor:
        if self.user is None:
            raise UserRequired("This method requires an authenticated user")
        return self.user.actor


def bearer_value(request: Request) -> str | None:
    """The token from ``Authorization: Bearer``, else the ``access_token`` query (megalodon's streaming)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("access_token") or None


async def caller(request: Request, session: AsyncSession, scope: str | None = None, *, user: bool = True) -> Caller:
    """The authenticated caller; ``scope`` (e.g. ``read:statuses``) must be granted, ``user`` tokens only."""
    value = bearer_value(request)
    token = await token_from_bearer(session, value) if value else None
    if token is None:
        raise Unauthorized("The access token is invalid")
    scopes = Scopes.parse(token.scopes)
    if scope is not None and not scopes.allows(scope):
        raise Forbidden("This action is outside the authorized scopes")
    found = Caller(token=token, scopes=scopes, user=token.user)
    if user and found.user is None:
        raise UserRequired("This method requires an authenticated user")
    return found


async def optional_caller(request: Request, session: AsyncSession, scope: str | None = None) -> Caller | None:
    """None for an anonymous request; a token that is sent must still be valid."""
    if bearer_value(request) is None:
        return None
    return await caller(request, session, scope)
