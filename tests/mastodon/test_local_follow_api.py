"""``POST /api/v1/accounts/:id/follow`` of an account on this instance, and its posts on the home timeline."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.models import Note, User
from tests.mastodon.conftest import TokenFactory

BASE = "http://127.0.0.1:8000"


async def test_follow__a_local_account_follows_it_and_home_shows_its_posts(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    alice: User,
    token_for: TokenFactory,
    bearer: Callable[[str], dict[str, str]],
) -> None:
    async with sessions() as session:
        bob = await accounts.create_user(session, "bob", "password-bob-123")
        session.add(
            Note(uri=f"{BASE}/users/bob/statuses/1", attributed_to=f"{BASE}/users/bob", content="<p>from bob</p>")
        )
        await session.commit()
    headers = bearer(await token_for())
    home = await client.get("/api/v1/timelines/home", headers=headers)
    assert [s["content"] for s in home.json()] == []
    answer = await client.post(f"/api/v1/accounts/{bob.actor.id}/follow", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["following"] is True
    home = await client.get("/api/v1/timelines/home", headers=headers)
    assert [s["content"] for s in home.json()] == ["<p>from bob</p>"]
    answer = await client.post(f"/api/v1/accounts/{bob.actor.id}/unfollow", headers=headers)
    assert answer.json()["following"] is False
    home = await client.get("/api/v1/timelines/home", headers=headers)
    assert home.json() == []
