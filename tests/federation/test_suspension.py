"""Suspension between two fediserver instances over real loopback HTTP: the followers' server gets an
``Update`` of the stripped actor with ``suspended: true`` (Mastodon's ``SuspendAccountService``), and the
full actor again on unsuspension; the suspended account's posts answer 403."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from fediserver.domain import moderation
from fediserver.domain.posts import PostDraft, publish_post

from .test_accounts import AS2, follow, remote_actor, svc

Wait = Callable[..., Awaitable[Any]]
Factory = Callable[..., Awaitable[Any]]


async def test_suspend__followers_server_sees_the_suspended_actor_then_the_full_one(
    instances: Factory, wait: Wait
) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice = a.actor_url("alice")
    await follow(b, "bob", alice, wait)
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        note = await publish_post(svc(a), session, me, PostDraft(text="before the suspension"))
        user = await moderation.user_named(session, "alice")
        jobs = await moderation.suspend(svc(a), session, user)
        await session.commit()
    assert [j.inbox_url for j in jobs] == [b.fed.urls.shared_inbox()]
    a.wake()

    async def suspended() -> Any:
        row = await remote_actor(b, alice)
        return row if row is not None and row.raw.get("suspended") is True else None

    row = await wait(suspended)
    assert row.summary_html == ""
    assert "icon" not in row.raw
    async with httpx.AsyncClient() as http:
        assert (await http.get(note.uri, headers=AS2)).status_code == 403
        assert (await http.get(a.fed.urls.outbox("alice"), headers=AS2)).status_code == 403

    async with a.sessions() as session:
        user = await moderation.user_named(session, "alice")
        await moderation.unsuspend(svc(a), session, user)
        await session.commit()
    a.wake()

    async def restored() -> Any:
        row = await remote_actor(b, alice)
        return row if row is not None and "suspended" not in row.raw else None

    await wait(restored)
    async with httpx.AsyncClient() as http:
        assert (await http.get(note.uri, headers=AS2)).status_code == 200
