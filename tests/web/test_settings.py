"""Instance settings stored by an admin override the config at runtime: pages, NodeInfo, the instance API,
sign-up, and the per-user daily generation and writing-help limits (429 with the reason, on every interface)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.config import Settings
from fediserver.domain import site
from fediserver.errors import InvalidInput, TooManyRequests
from fediserver.imagegen import jobs

from .conftest import GEN, Browser, log_in, post_form

SETTINGS = {
    "name": "Fox Den",
    "description": "Pictures of foxes, made here.",
    "rules": "Be kind\n\nNo photos of real people\n",
    "registration": "approval",
    "generation_daily_limit": "3",
}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_settings__change_the_front_page_nodeinfo_instance_api_and_signup(browser: Browser) -> None:
    admin = await browser("closed")
    await log_in(admin, "mod", "mod-password")
    saved = await post_form(admin, "/admin/settings", "/admin/settings", SETTINGS)
    assert saved.status_code == 200
    assert 'id="settings-saved"' in saved.text
    front = (await admin.get("/")).text
    assert "<h1>Fox Den</h1>" in front
    assert "Pictures of foxes, made here." in front
    assert re.search(r'<ol id="rules"><li>Be kind</li><li>No photos of real people</li></ol>', front)
    nodeinfo = (await admin.get("/nodeinfo/2.0")).json()
    assert nodeinfo["metadata"]["nodeName"] == "Fox Den"
    assert nodeinfo["metadata"]["nodeDescription"] == "Pictures of foxes, made here."
    v2 = (await admin.get("/api/v2/instance")).json()
    assert v2["title"] == "Fox Den"
    assert v2["registrations"]["approval_required"] is True
    assert [r["text"] for r in v2["rules"]] == ["Be kind", "No photos of real people"]
    guest = await browser("closed")
    signed = await post_form(guest, "/signup", "/signup", {"username": "carol", "password": "carol-password"})
    assert signed.status_code == 201  # approval now, though the config file says closed


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"name": ""}, "name: 1 to 100"),
        ({"registration": "anyone"}, "registration: one of"),
        ({"generation_daily_limit": "-1"}, "whole number"),
        ({"assist_daily_limit": "x"}, "writing help daily limit: a whole number"),
        ({"assist_daily_limit": "100001"}, "writing help daily limit: a whole number from 0"),
        ({"rules": "x" * 501}, "rules: at most"),
    ],
)
async def test_settings__bad_values_are_a_4xx_with_the_reason(
    browser: Browser, change: dict[str, str], reason: str
) -> None:
    admin = await browser("closed")
    await log_in(admin, "mod", "mod-password")
    response = await post_form(admin, "/admin/settings", "/admin/settings", {**SETTINGS, **change})
    assert response.status_code == 422
    assert reason in response.text
    assert "Fox Den" not in (await admin.get("/")).text


async def test_settings__members_cannot_change_them(browser: Browser) -> None:
    member = await browser("closed")
    await log_in(member, "alice", "alice-password")
    response = await post_form(member, "/home", "/admin/settings", SETTINGS)
    assert response.status_code == 403
    assert "Fox Den" not in (await member.get("/")).text


async def _set_limit(sessions: async_sessionmaker[AsyncSession], settings: Settings, limit: int) -> None:
    async with sessions() as session:
        await site.update_instance(session, settings, {"generation_daily_limit": limit})
        await session.commit()


async def test_daily_limit__the_generation_api_answers_429_with_the_reason(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], make_settings: Any
) -> None:
    client = await browser("closed")
    await _set_limit(sessions, make_settings(generation=GEN), 2)
    auth = _basic("alice", "alice-password")
    body = {"prompt": "a fox", "post": False}
    for _ in range(2):
        assert (await client.post("/api/v1/generations", json=body, headers=auth)).status_code == 202
    refused = await client.post("/api/v1/generations", json=body, headers=auth)
    assert refused.status_code == 429
    assert "daily generation limit reached: 2 images a day" in refused.text
    # The limit is per user: another member still may.
    assert (
        await client.post("/api/v1/generations", json=body, headers=_basic("mod", "mod-password"))
    ).status_code == 202


async def test_daily_limit__the_web_compose_answers_429_too(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], make_settings: Any
) -> None:
    settings = make_settings(generation=GEN)
    client = await browser("closed")
    await log_in(client, "alice", "alice-password")
    await _set_limit(sessions, settings, 1)
    first = await post_form(client, "/compose", "/compose/generate", {"prompt": "a fox", "seed": ""})
    assert first.status_code == 303
    second = await post_form(client, "/compose", "/compose/generate", {"prompt": "a fox", "seed": ""})
    assert second.status_code == 429
    assert "daily generation limit reached: 1 images a day" in second.text


@pytest.mark.usefixtures("users")
async def test_daily_limit__zero_means_no_limit(sessions: async_sessionmaker[AsyncSession], make_settings: Any) -> None:
    settings = make_settings(generation=GEN)
    async with sessions() as session:
        alice = await accounts.get_user_actor(session, "alice")
        for _ in range(3):
            await jobs.enqueue(session, alice, jobs.build_request(settings, "a fox"), quota=settings)
        await session.commit()
    await _set_limit(sessions, settings, 3)
    async with sessions() as session:
        with pytest.raises(TooManyRequests):
            await jobs.enqueue(session, alice, jobs.build_request(settings, "a fox"), quota=settings)


async def test_update_instance__refuses_an_unknown_key(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as session:
        with pytest.raises(InvalidInput, match="secret_key: not an instance setting"):
            await site.update_instance(session, settings, {"secret_key": "x" * 40})


async def test_assist_daily_limit__set_on_the_settings_page_and_enforced_by_the_assist_queue(browser: Browser) -> None:
    admin = await browser("closed")
    await log_in(admin, "mod", "mod-password")
    assert (
        'id="f-assist_daily_limit" name="assist_daily_limit" type="number" value="200"'
        in (await admin.get("/admin/settings")).text
    ), "the config file's limit is shown until an admin changes it"
    saved = await post_form(admin, "/admin/settings", "/admin/settings", {**SETTINGS, "assist_daily_limit": "2"})
    assert saved.status_code == 200
    assert 'name="assist_daily_limit" type="number" value="2"' in saved.text
    auth = _basic("alice", "alice-password")
    for _ in range(2):
        assert (await admin.post("/api/v1/assist/prompt", json={"idea": "fox"}, headers=auth)).status_code == 202
    refused = await admin.post("/api/v1/assist/prompt", json={"idea": "fox"}, headers=auth)
    assert refused.status_code == 429
    assert "writing help: the limit of 2 requests a day is reached" in refused.json()["error"]
    # The twin: raised again on the page, the same member may ask once more at once (no restart).
    await post_form(admin, "/admin/settings", "/admin/settings", {**SETTINGS, "assist_daily_limit": "3"})
    assert (await admin.post("/api/v1/assist/prompt", json={"idea": "fox"}, headers=auth)).status_code == 202
    # A form without the field leaves the limit as it is.
    await post_form(admin, "/admin/settings", "/admin/settings", SETTINGS)
    assert (await admin.post("/api/v1/assist/prompt", json={"idea": "fox"}, headers=auth)).status_code == 429
