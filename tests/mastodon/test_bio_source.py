"""The bio as typed comes back as ``source.note`` (verify_credentials), its HTML as ``note``."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.config import Settings
from fediserver.domain import profiles
from fediserver.domain.services import open_services
from fediserver.models import User
from tests.mastodon.conftest import TokenFactory

BIO = "Painting with light. https://example.com/gallery\n\n#art"


async def test_verify_credentials__returns_the_bio_as_typed_and_as_html(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    alice: User,
    token_for: TokenFactory,
    bearer: Callable[[str], dict[str, str]],
) -> None:
    async with sessions() as session, open_services(settings) as svc:
        me = await accounts.get_user_actor(session, "alice")
        await profiles.update_profile(svc, session, me, profiles.ProfileChange(bio=BIO))
        await session.commit()
    answer = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(await token_for("read")))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["source"]["note"] == BIO
    assert body["note"] != BIO
    assert 'href="https://example.com/gallery"' in body["note"]
    assert "#<span>art</span>" in body["note"]


async def test_verify_credentials__a_bio_without_source_gives_its_text(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    alice: User,
    token_for: TokenFactory,
    bearer: Callable[[str], dict[str, str]],
) -> None:
    async with sessions() as session:
        me = await accounts.get_user_actor(session, "alice")
        me.summary = "<p>Older <b>bio</b></p>"
        await session.commit()
    answer = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(await token_for("read")))
    assert answer.json()["source"]["note"] == "Older bio"
