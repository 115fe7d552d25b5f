"""Mastodon.py (PyPI) against live instances on loopback: the social side of the client API (issue 10).

A locked ``alice`` on instance a edits her profile with an avatar and fields, answers follow requests from
``bob`` and ``carol`` on instance b, reads and pages her notifications (types, exclude_types, account_id),
mutes, blocks and searches, all through Mastodon.py's own methods. Field lists are docs.joinmastodon.org's.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonNotFoundError
from PIL import Image
from sqlalchemy import select

from fediserver.domain import reactions, relations
from fediserver.domain.services import Services
from fediserver.models import ActorBlock, Follow, Note, Notification, User
from fediserver.oauth import grants
from fediserver.oauth.grants import OOB
from fediserver.oauth.scopes import Scopes
from tests.federation.conftest import Instance

Factory = Callable[..., Awaitable[Instance]]
Wait = Callable[..., Awaitable[Any]]
# docs.joinmastodon.org/entities/Relationship/
RELATIONSHIP_FIELDS = {
    "id", "following", "showing_reblogs", "notifying", "languages", "followed_by", "blocking", "blocked_by",
    "muting", "muting_notifications", "requested", "requested_by", "domain_blocking", "endorsed", "note",
}  # fmt: skip
# docs.joinmastodon.org/entities/Notification/ (required attributes)
NOTIFICATION_FIELDS = {"id", "type", "created_at", "group_key", "account"}
# docs.joinmastodon.org/entities/Account/#source
SOURCE_FIELDS = {"note", "fields", "privacy", "sensitive", "language", "follow_requests_count"}


def png(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 48), color).save(out, "PNG")
    return out.getvalue()


def svc(instance: Instance) -> Services:
    services: Services = instance.app.state.services
    return services


async def token(instance: Instance, username: str, scopes: str = "read write follow push") -> str:
    async with instance.sessions() as session:
        actor = await instance.user(session, username)
        user = await session.scalar(select(User).where(User.actor_id == actor.id))
        parsed = Scopes.parse(scopes)
        app, _ = await grants.register_app(session, "test", [OOB], parsed, None)
        issued = await grants.issue_token(session, app, user, parsed)
        await session.commit()
        return issued.access_token


async def follow_from(instance: Instance, username: str, target: str) -> None:
    async with instance.sessions() as session:
        await relations.follow(svc(instance), session, await instance.user(session, username), target)
        await session.commit()
    instance.wake()


async def follow_state(instance: Instance, follower: str, followed: str) -> str | None:
    async with instance.sessions() as session:
        state: str | None = await session.scalar(
            select(Follow.state).where(Follow.follower_uri == follower, Follow.followed_uri == followed)
        )
        return state


async def test_mastodon_py__profile_follow_requests_notifications_mutes_blocks_search(
    instances: Factory, wait: Wait
) -> None:
    # The Block and its Undo go to the same inbox: delivery keeps their order (DeliveryHandler.in_order_of).
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob", "carol", "dave"])
    alice, bob, carol = a.actor_url("alice"), b.actor_url("bob"), b.actor_url("carol")
    me = Mastodon(access_token=await token(a, "alice"), api_base_url=a.base)

    def edit_profile() -> dict[str, Any]:
        with pytest.raises(MastodonAPIError) as too_long:
            me.account_update_credentials(display_name="x" * 31)
        assert too_long.value.args[1] == 422
        me.account_update_credentials(display_name="x" * 30)  # the limit itself is accepted
        updated = me.account_update_credentials(
            display_name="Alice",
            note="Paints with light.\nSecond line",
            avatar=png("green"),
            avatar_mime_type="image/png",
            locked=True,
            default_privacy="unlisted",
            fields=[("Site", "https://example.org/alice"), ("Mood", "calm <3")],
        )
        return {"updated": updated, "verified": me.account_verify_credentials()}

    got = await asyncio.to_thread(edit_profile)
    updated, verified = got["updated"], got["verified"]
    assert updated["display_name"] == "Alice"
    assert updated["locked"] is True
    assert updated["avatar"].startswith(f"{a.base}/media/")
    assert updated["header"].startswith(f"{a.base}/api/static/")
    assert [f["name"] for f in updated["fields"]] == ["Site", "Mood"]
    assert updated["fields"][0]["value"].startswith('<a href="https://example.org/alice"')
    assert updated["fields"][1]["value"] == "calm &lt;3"
    assert set(verified["source"]) >= SOURCE_FIELDS
    assert verified["source"]["note"] == "Paints with light.\nSecond line"
    assert verified["source"]["privacy"] == "unlisted"
    assert [(f["name"], f["value"]) for f in verified["source"]["fields"]] == [
        ("Site", "https://example.org/alice"),
        ("Mood", "calm <3"),
    ]
    # Two follow requests to the locked account: authorize bob, reject carol.
    await follow_from(b, "bob", alice)
    await follow_from(b, "carol", alice)

    async def both_pending() -> bool:
        return await follow_state(a, bob, alice) == "pending" and await follow_state(a, carol, alice) == "pending"

    await wait(both_pending)

    def answer_requests() -> dict[str, Any]:
        requests = me.follow_requests()
        by_name = {r["username"]: r for r in requests}
        before = me.account_relationships([by_name["bob"]["id"]])[0]
        authorized = me.follow_request_authorize(by_name["bob"]["id"])
        rejected = me.follow_request_reject(by_name["carol"]["id"])
        with pytest.raises(MastodonNotFoundError):
            me.follow_request_authorize(by_name["carol"]["id"])
        return {
            "requests": requests,
            "before": before,
            "authorized": authorized,
            "rejected": rejected,
            "after": me.follow_requests(),
            "followers": me.account_followers(me.me()["id"]),
            "following": me.account_following(me.me()["id"]),
            "requests_notified": me.notifications(types=["follow_request"]),
        }

    got = await asyncio.to_thread(answer_requests)
    assert sorted(r["username"] for r in got["requests"]) == ["bob", "carol"]
    assert set(got["before"]) >= RELATIONSHIP_FIELDS
    assert got["before"]["requested_by"] is True
    assert got["before"]["followed_by"] is False
    assert got["authorized"]["followed_by"] is True
    assert got["authorized"]["requested_by"] is False
    assert got["rejected"]["followed_by"] is False
    assert got["rejected"]["requested_by"] is False
    assert got["after"] == []
    assert [f["username"] for f in got["followers"]] == ["bob"]
    assert got["following"] == []
    assert sorted(n["account"]["username"] for n in got["requests_notified"]) == ["bob", "carol"]
    assert all(set(n) >= NOTIFICATION_FIELDS and n.get("status") is None for n in got["requests_notified"])
    a.wake()

    async def answered_on_b() -> bool:
        return await follow_state(b, bob, alice) == "accepted" and await follow_state(b, carol, alice) == "rejected"

    await wait(answered_on_b)

    # bob favourites alice's post: a notification with the status, which mutes and blocks hide.
    posted = await asyncio.to_thread(me.status_post, "a new painting", visibility="public")

    async def delivered() -> bool:
        async with b.sessions() as session:
            return await session.scalar(select(Note.id).where(Note.uri == posted["uri"])) is not None

    await wait(delivered)
    async with b.sessions() as session:
        await reactions.like(svc(b), session, await b.user(session, "bob"), posted["uri"])
        await session.commit()
    b.wake()

    async def liked() -> bool:
        async with a.sessions() as session:
            found = await session.scalar(select(Notification.id).where(Notification.type == "favourite"))
            return found is not None

    await wait(liked)

    def read_notifications() -> dict[str, Any]:
        everything = me.notifications()
        bob_id = next(n["account"]["id"] for n in everything if n["type"] == "favourite")
        first = me.notifications(limit=1)
        out = {
            "all": everything,
            "favourites": me.notifications(types=["favourite"]),
            "unknown_type_only": me.notifications(types=["poll"]),
            "without_favourites": me.notifications(exclude_types=["favourite", "admin.sign_up"]),
            "from_bob": me.notifications(account_id=bob_id),
            "first": first,
            "second": me.fetch_next(first),
            "one": me.notifications(id=first[0]["id"]),
            "unread": me.notifications_unread_count(),
            "muted": me.account_mute(bob_id),
            "while_muted": me.notifications(),
            "mutes": me.mutes(),
            "muted_quietly": me.account_mute(bob_id, notifications=False),
            "while_muted_quietly": me.notifications(),
            "unmuted": me.account_unmute(bob_id),
        }
        me.notifications_dismiss(first[0]["id"])
        with pytest.raises(MastodonNotFoundError):
            me.notifications(id=first[0]["id"])
        out["after_dismiss"] = me.notifications()
        out["blocked"] = me.account_block(bob_id)
        out["blocks"] = me.blocks()
        out["while_blocked"] = me.notifications()
        out["followers_blocked"] = me.account_followers(me.me()["id"])
        out["unblocked"] = me.account_unblock(bob_id)
        out["unblocked_again"] = me.account_unblock(bob_id)
        me.notifications_clear()
        out["cleared"] = me.notifications()
        return out

    got = await asyncio.to_thread(read_notifications)
    types = [n["type"] for n in got["all"]]
    assert sorted(types) == ["favourite", "follow_request", "follow_request"]
    assert types[0] == "favourite"  # newest first
    favourite = got["favourites"][0]
    assert len(got["favourites"]) == 1
    assert favourite["status"]["id"] == posted["id"]
    assert favourite["account"]["acct"].startswith("bob@127.0.0.1")
    assert got["unknown_type_only"] == []
    assert sorted(n["type"] for n in got["without_favourites"]) == ["follow_request", "follow_request"]
    assert sorted(n["type"] for n in got["from_bob"]) == ["favourite", "follow_request"]
    assert len(got["first"]) == 1
    assert len(got["second"]) == 1
    assert got["second"][0]["id"] != got["first"][0]["id"]
    assert got["one"]["id"] == got["first"][0]["id"]
    assert got["unread"]["count"] == 3
    assert got["muted"]["muting"] is True
    assert got["muted"]["muting_notifications"] is True
    assert [n["account"]["username"] for n in got["while_muted"]] == ["carol"]
    assert [m["username"] for m in got["mutes"]] == ["bob"]
    assert got["muted_quietly"]["muting_notifications"] is False
    assert len(got["while_muted_quietly"]) == 3
    assert got["unmuted"]["muting"] is False
    assert len(got["after_dismiss"]) == 2
    assert got["blocked"]["blocking"] is True
    assert got["blocked"]["followed_by"] is False  # a block ends the follow
    assert [x["username"] for x in got["blocks"]] == ["bob"]
    assert [n["account"]["username"] for n in got["while_blocked"]] == ["carol"]
    assert got["followers_blocked"] == []
    assert got["unblocked"]["blocking"] is False
    assert got["unblocked_again"]["blocking"] is False
    assert got["cleared"] == []
    a.wake()

    async def block_then_undo_reached_b() -> bool:
        async with b.sessions() as session:
            row = await session.scalar(select(ActorBlock.id).where(ActorBlock.actor_uri == alice))
        return row is None

    await wait(block_then_undo_reached_b)

    def search() -> dict[str, Any]:
        domain_b = b.settings.instance.domain
        return {
            "ali": me.account_search("ali"),
            "alx": me.account_search("alx"),
            "bo": me.account_search("@bo"),
            "carol_cached": me.account_search(f"carol@{domain_b}"),
            "nobody": me.account_search(f"nobody@{domain_b}", resolve=True),
            "dave_unresolved": me.account_search(f"dave@{domain_b}"),
            "dave_resolved": me.account_search(f"dave@{domain_b}", resolve=True),
            "following": me.account_search("bo", following=True),
        }

    got = await asyncio.to_thread(search)
    assert [x["acct"] for x in got["ali"]] == ["alice"]
    assert got["alx"] == []
    assert [x["username"] for x in got["bo"]] == ["bob"]
    assert [x["username"] for x in got["carol_cached"]] == ["carol"]
    assert got["nobody"] == []
    assert got["dave_unresolved"] == []  # not cached: only WebFinger finds it
    assert [x["username"] for x in got["dave_resolved"]] == ["dave"]
    assert got["following"] == []
