"""Invite links: who may make them, sign-up through ``/invite/CODE`` in every mode, uses, expiry, revoking."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.models import Invite, LocalActor, User, utcnow

from .conftest import Browser, log_in, post_form

LINK_RE = re.compile(r'class="invite-link" value="http://127\.0\.0\.1:8000/invite/([^"]+)"')


async def _invite(client: httpx.AsyncClient, **data: str) -> str:
    created = await post_form(client, "/invites", "/invites", {"max_uses": "", "days": "", **data})
    assert created.status_code == 303, created.text
    codes = LINK_RE.findall((await client.get("/invites")).text)
    assert codes
    return str(codes[0])


async def _sign_up(client: httpx.AsyncClient, code: str, username: str) -> httpx.Response:
    """Post the invite's form (the CSRF token read from the log-in page: a spent invite's page has no form)."""
    return await post_form(
        client, "/login", f"/invite/{code}", {"username": username, "password": f"{username}-password"}
    )


async def _approved(sessions: async_sessionmaker[AsyncSession], username: str) -> bool | None:
    async with sessions() as session:
        user = await session.scalar(select(User).join(User.actor).where(LocalActor.username == username))
        return None if user is None else user.is_approved


async def test_invite_mode__plain_signup_is_refused_but_an_invite_signs_up(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin, guest = await browser("invite"), await browser("invite")
    await log_in(admin, "mod", "mod-password")
    refused = await post_form(guest, "/login", "/signup", {"username": "carol", "password": "carol-password"})
    assert refused.status_code == 422
    assert "by invitation" in refused.text
    code = await _invite(admin, max_uses="1")
    form = await guest.get(f"/invite/{code}")
    assert form.status_code == 200
    assert f'action="/invite/{code}"' in form.text
    joined = await _sign_up(guest, code, "carol")
    assert joined.status_code == 303
    assert await _approved(sessions, "carol") is True
    assert (await guest.get("/home")).status_code == 200


async def test_invite__used_up_after_max_uses(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    admin = await browser("invite")
    await log_in(admin, "mod", "mod-password")
    code = await _invite(admin, max_uses="1")
    assert (await _sign_up(await browser("invite"), code, "carol")).status_code == 303
    second = await _sign_up(await browser("invite"), code, "dave")
    assert second.status_code == 410
    assert "used up" in second.text
    assert await _approved(sessions, "dave") is None
    assert "Used 1 of 1" in (await admin.get("/invites")).text


async def test_invite__skips_approval_in_approval_mode(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await browser("approval")
    await log_in(admin, "mod", "mod-password")
    code = await _invite(admin)
    assert (await _sign_up(await browser("approval"), code, "carol")).status_code == 303
    assert await _approved(sessions, "carol") is True


async def test_invite__expired_or_revoked_is_gone(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    admin = await browser("invite")
    await log_in(admin, "mod", "mod-password")
    expiring = await _invite(admin, days="1")
    async with sessions() as session:
        await session.execute(
            update(Invite).where(Invite.code == expiring).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await (await browser("invite")).get(f"/invite/{expiring}")).status_code == 410
    revoked = await _invite(admin)
    async with sessions() as session:
        invite = await session.scalar(select(Invite).where(Invite.code == revoked))
        assert invite is not None
    assert (await post_form(admin, "/invites", f"/invites/{invite.id}/revoke", {})).status_code == 303
    assert (await _sign_up(await browser("invite"), revoked, "carol")).status_code == 410
    assert await _approved(sessions, "carol") is None
    assert (await (await browser("invite")).get("/invite/no-such-code")).status_code == 404


async def test_invites__admins_only_by_default(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    member = await browser("invite")
    await log_in(member, "alice", "alice-password")
    page = await member.get("/invites")
    assert "Only moderators and admins can create invites" in page.text
    refused = await post_form(member, "/invites", "/invites", {"max_uses": "1", "days": ""})
    assert refused.status_code == 403
    async with sessions() as session:
        assert list(await session.scalars(select(Invite))) == []


async def test_invites__members_may_when_configured_and_see_only_their_own(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    member = await browser("invite", instance={"invites": "members"})
    await log_in(member, "alice", "alice-password")
    admin = await browser("invite", instance={"invites": "members"})
    await log_in(admin, "mod", "mod-password")
    admins_code = await _invite(admin)
    alices_code = await _invite(member, max_uses="5", days="7")
    listing = (await member.get("/invites")).text
    assert alices_code in listing
    assert admins_code not in listing
    assert "Used 0 of 5" in listing
    everything = (await admin.get("/invites")).text
    assert alices_code in everything
    assert admins_code in everything
    async with sessions() as session:
        theirs = await session.scalar(select(Invite).where(Invite.code == admins_code))
        assert theirs is not None
    assert (await post_form(member, "/invites", f"/invites/{theirs.id}/revoke", {})).status_code == 404


async def test_invites__bad_numbers_are_a_4xx_with_the_reason(browser: Browser) -> None:
    admin = await browser("invite")
    await log_in(admin, "mod", "mod-password")
    for data, reason in (
        ({"max_uses": "0", "days": ""}, "max uses"),
        ({"max_uses": "1.5", "days": ""}, "whole number"),
        ({"max_uses": "", "days": "-1"}, "expires after"),
        ({"max_uses": "x", "days": ""}, "a number"),
    ):
        response = await post_form(admin, "/invites", "/invites", data)
        assert response.status_code == 422, data
        assert reason in response.text, data
