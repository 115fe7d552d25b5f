"""Profiles, follow requests, account deletion and migration between two fediserver instances over
real loopback HTTP (issue 9; federation.md checklist 2, 10, 50, 51)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from fediserver.cli import main
from fediserver.domain import accounts as account_cases
from fediserver.domain import profiles, relations
from fediserver.domain.posts import PostDraft, publish_post
from fediserver.domain.services import Services
from fediserver.errors import InvalidInput
from fediserver.models import ActorBlock, DeliveryJob, Follow, Note, RemoteActor

Wait = Callable[..., Awaitable[Any]]
Factory = Callable[..., Awaitable[Any]]
AS2 = {"Accept": "application/activity+json"}


def png(color: tuple[int, int, int] = (200, 10, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(out, "PNG")
    return out.getvalue()


def svc(instance: Any) -> Services:
    services: Services = instance.app.state.services
    return services


async def follow_state(instance: Any, follower: str, followed: str) -> str | None:
    async with instance.sessions() as session:
        state: str | None = await session.scalar(
            select(Follow.state).where(Follow.follower_uri == follower, Follow.followed_uri == followed)
        )
        return state


async def remote_actor(instance: Any, uri: str) -> RemoteActor | None:
    async with instance.sessions() as session:
        row: RemoteActor | None = await session.scalar(select(RemoteActor).where(RemoteActor.uri == uri))
        return row


async def follow(follower_side: Any, username: str, target: str, wait: Wait) -> None:
    async with follower_side.sessions() as session:
        me = await follower_side.user(session, username)
        await relations.follow(svc(follower_side), session, me, target)
        await session.commit()
    follower_side.wake()
    me_uri = follower_side.actor_url(username)

    async def accepted() -> bool:
        return await follow_state(follower_side, me_uri, target) == "accepted"

    await wait(accepted)


def write_config(instance: Any, path: Path) -> Path:
    """A config file for the CLI that points at the running instance's database and media."""
    s = instance.settings
    path.write_text(
        "[instance]\n"
        f'domain = "{s.instance.domain}"\nscheme = "http"\nsecret_key = "{s.instance.secret_key.reveal()}"\n'
        f'[database]\nurl = "{s.database_url}"\n'
        f'[media]\ndirectory = "{s.media_dir}"\n'
        "[federation]\nallow_private_addresses = true\n"
    )
    return path


async def cli(*argv: str) -> int:
    code: int = await asyncio.to_thread(main, list(argv))
    return code


async def test_profile_edit__reaches_the_other_instance_as_an_update(instances: Factory, wait: Wait) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice = a.actor_url("alice")
    await follow(b, "bob", alice, wait)

    change = profiles.ProfileChange(
        display_name="Alice A.",
        bio="Makes pictures.\nhttps://example.com",
        avatar=png(),
        header=png((0, 0, 200)),
        fields=[("Site", "https://example.com"), ("Pronouns", "she/her")],
        bot=True,
        discoverable=False,
    )
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        jobs = await profiles.update_profile(svc(a), session, me, change)
        await session.commit()
    assert [j.inbox_url for j in jobs] == [b.fed.urls.shared_inbox()]
    a.wake()

    async def updated() -> RemoteActor | None:
        row = await remote_actor(b, alice)
        return row if row is not None and row.display_name == "Alice A." else None

    row = await wait(updated)
    assert row.actor_type == "Service"
    assert "Makes pictures." in row.summary_html
    assert row.icon_url is not None
    assert row.icon_url.startswith(a.base + "/media/")
    assert row.raw["image"]["url"].startswith(a.base + "/media/")
    assert row.raw["discoverable"] is False
    assert row.raw["indexable"] is True
    fields = row.raw["attachment"]
    assert [(f["type"], f["name"]) for f in fields] == [("PropertyValue", "Site"), ("PropertyValue", "Pronouns")]
    assert 'href="https://example.com"' in fields[0]["value"]
    assert fields[1]["value"] == "she/her"
    async with httpx.AsyncClient() as http:
        avatar = await http.get(row.icon_url)
    assert avatar.status_code == 200
    # The stored avatar is the upload re-encoded without metadata: the same pixels, as a PNG
    with Image.open(io.BytesIO(avatar.content)) as served, Image.open(io.BytesIO(png())) as sent:
        assert served.format == "PNG"
        assert served.convert("RGB").tobytes() == sent.convert("RGB").tobytes()


async def test_locked_account__follow_stays_pending_until_accepted_with_the_cli(
    instances: Factory, wait: Wait, tmp_path: Path
) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob", "dave"])
    alice, bob, dave = a.actor_url("alice"), b.actor_url("bob"), b.actor_url("dave")
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        await profiles.update_profile(svc(a), session, me, profiles.ProfileChange(locked=True))
        await session.commit()
    for name in ("bob", "dave"):
        async with b.sessions() as session:
            await relations.follow(svc(b), session, await b.user(session, name), alice)
            await session.commit()
    b.wake()

    async def both_pending() -> bool:
        return await follow_state(a, bob, alice) == "pending" and await follow_state(a, dave, alice) == "pending"

    await wait(both_pending)
    # The Follow was processed (the row exists) and no Accept was queued for it.
    async with a.sessions() as session:
        assert (await session.scalars(select(DeliveryJob.activity_id))).all() == []
    assert await follow_state(b, bob, alice) == "pending"

    config = str(write_config(a, tmp_path / "a.toml"))
    assert await cli("follow-requests", "alice", "--config", config) == 0
    assert await cli("follow-requests", "alice", "--accept", bob, "--config", config) == 0
    assert await cli("follow-requests", "alice", "--reject", dave, "--config", config) == 0
    assert await follow_state(a, bob, alice) == "accepted"
    assert await follow_state(a, dave, alice) is None
    a.wake()

    async def answered_on_b() -> bool:
        return await follow_state(b, bob, alice) == "accepted" and await follow_state(b, dave, alice) == "rejected"

    await wait(answered_on_b)
    # A second answer to a request no longer pending is refused.
    assert await cli("follow-requests", "alice", "--accept", bob, "--config", config) == 1


async def test_account_deletion__reaches_the_other_instance_and_everything_answers_410(
    instances: Factory, wait: Wait
) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice = a.actor_url("alice")
    await follow(b, "bob", alice, wait)
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        note = await publish_post(svc(a), session, me, PostDraft(text="soon gone"))
        await session.commit()
        note_uri = note.uri
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        jobs = await account_cases.delete_account(svc(a), session, me)
        await session.commit()
    assert [j.inbox_url for j in jobs] == [b.fed.urls.shared_inbox()]
    a.wake()

    async def gone_on_b() -> bool:
        row = await remote_actor(b, alice)
        return row is not None and row.deleted_at is not None

    await wait(gone_on_b)
    assert await follow_state(b, b.actor_url("bob"), alice) is None
    async with httpx.AsyncClient() as http:
        actor = await http.get(alice, headers=AS2)
        assert actor.status_code == 410
        assert actor.json()["type"] == "Tombstone"
        assert (await http.get(a.fed.urls.outbox("alice"), headers=AS2)).status_code == 410
        assert (await http.get(note_uri, headers=AS2)).status_code == 410
        finger = await http.get(
            a.base + "/.well-known/webfinger", params={"resource": f"acct:alice@{a.settings.instance.domain}"}
        )
        assert finger.status_code == 410
    async with a.sessions() as session:
        stored = await session.scalar(select(Note).where(Note.uri == note_uri))
        assert stored is not None
        assert stored.content == ""
        assert stored.deleted_at is not None


async def test_move__a_local_follower_follows_the_new_account(instances: Factory, wait: Wait) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob", "carol"])
    alice, bob, carol = a.actor_url("alice"), b.actor_url("bob"), b.actor_url("carol")
    await follow(a, "alice", bob, wait)

    async with b.sessions() as session:
        old = await b.user(session, "bob")
        # Without the alias on the target the move is refused.
        with pytest.raises(InvalidInput, match="alsoKnownAs"):
            await account_cases.move(svc(b), session, old, carol)
        await account_cases.set_aliases(svc(b), session, await b.user(session, "carol"), [bob])
        await account_cases.move(svc(b), session, old, carol)
        await session.commit()
    b.wake()

    async def moved() -> bool:
        return await follow_state(a, alice, carol) == "accepted" and await follow_state(a, alice, bob) is None

    await wait(moved)
    old_row = await remote_actor(a, bob)
    assert old_row is not None
    assert old_row.moved_to == carol
    async with httpx.AsyncClient() as http:
        doc = (await http.get(bob, headers=AS2)).json()
        assert doc["movedTo"] == carol
        assert (await http.get(carol, headers=AS2)).json()["alsoKnownAs"] == [bob]
    assert await follow_state(b, alice, carol) == "accepted"
    assert await follow_state(b, alice, bob) is None


async def _sent_types(instance: Any) -> list[str]:
    async with instance.sessions() as session:
        bodies = await session.scalars(select(DeliveryJob.body).order_by(DeliveryJob.id))
        return [json.loads(body)["type"] for body in bodies]


async def test_6_9__block_is_not_delivered_to_its_object(instances: Factory, wait: Wait) -> None:
    """ActivityPub §6.9: "The server SHOULD NOT deliver Block activities to their object." The follows end
    both ways, and the remote learns that from ``Reject(Follow)`` and ``Undo(Follow)`` (Mastodon's BlockService)."""
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice, bob = a.actor_url("alice"), b.actor_url("bob")
    await follow(a, "alice", bob, wait)
    await follow(b, "bob", alice, wait)
    before = await _sent_types(a)
    async with a.sessions() as session:
        await relations.block_actor(svc(a), session, await a.user(session, "alice"), bob)
        await session.commit()
    assert await follow_state(a, alice, bob) is None
    assert await follow_state(a, bob, alice) is None
    sent = (await _sent_types(a))[len(before) :]
    assert sorted(sent) == ["Reject", "Undo"]
    a.wake()

    async def follows_ended_on_b() -> bool:
        # b keeps a rejected follow as "rejected" (``inbound.follows.on_reject``)
        return await follow_state(b, bob, alice) == "rejected" and await follow_state(b, alice, bob) is None

    await wait(follows_ended_on_b)
    async with b.sessions() as session:
        assert await session.scalar(select(ActorBlock.id).where(ActorBlock.actor_uri == alice)) is None
    async with a.sessions() as session:
        await relations.unblock_actor(svc(a), session, await a.user(session, "alice"), bob)
        await session.commit()
    # the blocked actor never heard of the Block, so its lifting is not sent either
    assert (await _sent_types(a))[len(before) :] == sent


async def test_6_9__twin_without_follows_a_block_sends_nothing(instances: Factory, wait: Wait) -> None:
    """The twin: with no follow between them nothing at all goes out, while the block holds on our side."""
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice, bob = a.actor_url("alice"), b.actor_url("bob")
    before = await _sent_types(a)
    async with a.sessions() as session:
        row = await relations.block_actor(svc(a), session, await a.user(session, "alice"), bob)
        await session.commit()
    assert (row.actor_uri, row.target_uri) == (alice, bob)
    assert await _sent_types(a) == before
