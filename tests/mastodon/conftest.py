"""The app over ASGI with one user, ``alice``, and a way to mint her tokens with chosen scopes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.models import User
from fediserver.oauth import grants
from fediserver.oauth.grants import OOB
from fediserver.oauth.scopes import Scopes

PASSWORD = "password-alice"
TokenFactory = Callable[..., Awaitable[str]]


@pytest.fixture
async def alice(sessions: async_sessionmaker[AsyncSession]) -> User:
    async with sessions() as session:
        user = await accounts.create_user(session, "alice", PASSWORD)
        await session.commit()
        return user


@pytest.fixture
def token_for(sessions: async_sessionmaker[AsyncSession], alice: User) -> TokenFactory:
    async def make(scopes: str = "read write follow push", *, user: User | None = alice) -> str:
        async with sessions() as session:
            parsed = Scopes.parse(scopes)
            app, _ = await grants.register_app(session, "t", [OOB], parsed, None)
            issued = await grants.issue_token(session, app, user, parsed)
            await session.commit()
            return issued.access_token

    return make


@pytest.fixture
def bearer() -> Callable[[str], dict[str, str]]:
    return lambda token: {"Authorization": f"Bearer {token}"}


__all__ = ["TokenFactory", "httpx"]
