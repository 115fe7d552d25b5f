"""Inbound activities processed by the worker: Follow (idempotent), Undo of Like/Announce/Block by id
or embedded, Block, Flag and the Delete of an actor (checklist 36, 37, 40)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

import activitypub as ap
from fediserver.domain.posts import PostDraft, publish_post
from fediserver.models import ActorBlock, Announce, Follow, Like, RemoteActor, Report

Factory = Callable[..., Awaitable[Any]]


async def _send(target: Any, sender: Any, activity: dict[str, Any]) -> None:
    async with sender.sessions() as session:
        actor = await sender.user(session, "bob")
        key = ap.load_private_key(actor.private_key_pem)
    body = json.dumps(activity).encode()
    url = target.fed.urls.shared_inbox()
    headers = ap.sign_request(
        method="POST", url=url, headers={"content-type": ap.ACTIVITY_JSON}, body=body,
        key_id=sender.fed.urls.actor_key("bob"), private_key=key, now=datetime.now(UTC),
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        response = await http.post(url, content=body, headers=headers)
    assert response.status_code == 202, response.text
    target.wake()


async def _count(instance: Any, model: Any, *where: Any) -> int:
    async with instance.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def test_inbound__follow_like_announce_block_flag_undo_delete(instances: Factory, wait: Any) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice, bob = a.actor_url("alice"), b.actor_url("bob")
    async with a.sessions() as session:
        note = await publish_post(a.app.state.services, session, await a.user(session, "alice"), PostDraft(text="hi"))
        await session.commit()

    # A repeated Follow (new id, as Mastodon sends after a key change) keeps one accepted row.
    for n in (1, 2):
        await _send(a, b, ap.follow(id=f"{b.base}/follows/{n}", actor=bob, object=alice))
    await wait(lambda: _accepted_with(a, bob, alice, f"{b.base}/follows/2"))
    assert await _count(a, Follow) == 1

    like_id, boost_id = f"{b.base}/likes/1", f"{b.base}/boosts/1"
    await _send(a, b, ap.like(id=like_id, actor=bob, object=note.uri))
    await _send(a, b, ap.announce(id=boost_id, actor=bob, object=note.uri, published=datetime.now(UTC), to=[ap.PUBLIC]))
    await wait(lambda: _both(a, note.uri))
    await _send(a, b, ap.undo(id=f"{like_id}/undo", actor=bob, object=like_id))
    boost = ap.announce(id=boost_id, actor=bob, object=note.uri, published=datetime.now(UTC), to=[ap.PUBLIC])
    boost.pop("@context")
    await _send(a, b, ap.undo(id=f"{boost_id}/undo", actor=bob, object=boost))

    async def reactions_gone() -> bool:
        return await _count(a, Like) == 0 and await _count(a, Announce) == 0

    await wait(reactions_gone)

    block = {"@context": ap.AS_CONTEXT, "id": f"{b.base}/blocks/1", "type": "Block", "actor": bob, "object": alice}
    await _send(a, b, block)

    async def blocked() -> bool:
        return await _count(a, ActorBlock) == 1 and await _count(a, Follow) == 0

    await wait(blocked)
    await _send(a, b, ap.undo(id=f"{b.base}/blocks/1/undo", actor=bob, object=f"{b.base}/blocks/1"))

    async def unblocked() -> bool:
        return await _count(a, ActorBlock) == 0

    await wait(unblocked)

    flag = {
        "@context": ap.AS_CONTEXT,
        "id": f"{b.base}/flags/1",
        "type": "Flag",
        "actor": bob,
        "object": [alice, note.uri],
        "content": "spam",
    }
    await _send(a, b, flag)

    async def reported() -> bool:
        return await _count(a, Report, Report.content == "spam") == 1

    await wait(reported)

    await _send(a, b, ap.delete(id=f"{bob}#delete", actor=bob, object=bob, to=[ap.PUBLIC]))

    async def actor_gone() -> bool:
        return await _count(a, RemoteActor, RemoteActor.uri == bob, RemoteActor.deleted_at.is_not(None)) == 1

    await wait(actor_gone)


async def _accepted_with(instance: Any, follower: str, followed: str, follow_id: str) -> bool:
    async with instance.sessions() as session:
        row = await session.scalar(
            select(Follow).where(Follow.follower_uri == follower, Follow.followed_uri == followed)
        )
    return row is not None and row.state == "accepted" and row.activity_uri == follow_id


async def _both(instance: Any, note_uri: str) -> bool:
    likes = await _count(instance, Like, Like.note_uri == note_uri)
    boosts = await _count(instance, Announce, Announce.note_uri == note_uri)
    return likes == 1 and boosts == 1
