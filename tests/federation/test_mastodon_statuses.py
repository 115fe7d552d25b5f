"""Mastodon.py (PyPI) against a live instance on loopback: editing (source, history, media_attributes),
bookmarks, pins, favourites and who favourited or boosted, conversations, media, refused polls and
scheduled statuses. Field lists are docs.joinmastodon.org's (entities/StatusEdit, StatusSource, Conversation)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from mastodon import Mastodon, MastodonAPIError
from sqlalchemy import select

from fediserver.models import User
from fediserver.oauth import grants
from fediserver.oauth.grants import OOB
from fediserver.oauth.scopes import Scopes
from tests.federation.conftest import Instance
from tests.federation.test_mastodon_api import png

STATUS_EDIT_FIELDS = {
    "content",
    "spoiler_text",
    "sensitive",
    "created_at",
    "account",
    "poll",
    "media_attachments",
    "emojis",
}
STATUS_SOURCE_FIELDS = {"id", "text", "spoiler_text"}
CONVERSATION_FIELDS = {"id", "unread", "accounts", "last_status"}


async def _client(server: Instance, username: str) -> Mastodon:
    """Mastodon.py with a token minted for ``username`` (the login flow itself is test_mastodon_api's)."""
    async with server.sessions() as session:
        actor = await server.user(session, username)
        owner = await session.scalar(select(User).where(User.actor_id == actor.id))
        scopes = Scopes.parse("read write follow push")
        app, _ = await grants.register_app(session, "mastodon.py", [OOB], scopes, None)
        issued = await grants.issue_token(session, app, owner, scopes)
        await session.commit()
    return Mastodon(access_token=issued.access_token, api_base_url=server.base)


async def test_mastodon_py__edit_bookmark_pin_favourites_conversations(
    instances: Callable[..., Awaitable[Instance]],
) -> None:
    server = await instances("a", ["alice", "bob"])
    alice, bob = await _client(server, "alice"), await _client(server, "bob")

    def edit() -> dict[str, Any]:
        media = alice.media_post(png(), mime_type="image/png", description="first alt")
        posted = alice.status_post("first words", media_ids=[media])
        edited = alice.status_update(
            posted["id"],
            "second words",
            spoiler_text="cw",
            media_attributes=[{"id": media["id"], "description": "better alt", "focus": "0.25,-0.5"}],
        )
        return {
            "media": media,
            "posted": posted,
            "edited": edited,
            "source": alice.status_source(posted["id"]),
            "history": alice.status_history(posted["id"]),
            "media_again": alice.media(alice.media_post(png("blue"), mime_type="image/png")["id"]),
        }

    got = await asyncio.to_thread(edit)
    edited = got["edited"]
    assert edited["id"] == got["posted"]["id"]
    assert edited["edited_at"] is not None
    assert edited["spoiler_text"] == "cw"
    assert edited["media_attachments"][0]["description"] == "better alt"
    assert edited["media_attachments"][0]["meta"]["focus"] == {"x": 0.25, "y": -0.5}
    assert set(got["source"]) == STATUS_SOURCE_FIELDS
    assert got["source"]["text"] == "second words"
    assert got["source"]["spoiler_text"] == "cw"
    history = got["history"]
    assert len(history) == 2
    assert all(set(v) >= STATUS_EDIT_FIELDS for v in history)
    assert history[0]["content"] == "<p>first words</p>"
    assert history[1]["content"] == "<p>second words</p>"
    assert history[0]["account"]["acct"] == "alice"
    assert got["media_again"]["url"]

    def marks() -> dict[str, Any]:
        first = alice.status_post("one")
        second = alice.status_post("two")
        alice.status_bookmark(first)
        bookmarked = alice.status_bookmark(second)
        page = alice.bookmarks(limit=1)
        pinned = alice.status_pin(first)
        pins = alice.account_statuses(alice.me(), pinned=True)
        unpinned = alice.status_unpin(first)
        return {
            "bookmarked": bookmarked,
            "page": page,
            "next": alice.fetch_next(page),
            "pinned": pinned,
            "pins": pins,
            "unpinned": unpinned,
            "unbookmarked": alice.status_unbookmark(second),
            "after": alice.bookmarks(),
            "first": first,
            "second": second,
        }

    got = await asyncio.to_thread(marks)
    first, second = got["first"], got["second"]
    assert got["bookmarked"]["bookmarked"] is True
    assert [s["id"] for s in got["page"]] == [second["id"]]
    assert [s["id"] for s in got["next"]] == [first["id"]]
    assert got["pinned"]["pinned"] is True
    assert [s["id"] for s in got["pins"]] == [first["id"]]
    assert got["unpinned"]["pinned"] is False
    assert got["unbookmarked"]["bookmarked"] is False
    assert [s["id"] for s in got["after"]] == [first["id"]]

    def reactions() -> dict[str, Any]:
        bob.status_favourite(first["id"])
        bob.status_reblog(first["id"])
        alice.status_favourite(first["id"])
        return {
            "favourited_by": alice.status_favourited_by(first["id"]),
            "reblogged_by": alice.status_reblogged_by(first["id"]),
            "bobs_favourites": bob.favourites(),
        }

    got = await asyncio.to_thread(reactions)
    assert [a["acct"] for a in got["favourited_by"]] == ["alice", "bob"]
    assert [a["acct"] for a in got["reblogged_by"]] == ["bob"]
    assert [s["id"] for s in got["bobs_favourites"]] == [first["id"]]
    assert got["bobs_favourites"][0]["favourited"] is True

    def conversations() -> dict[str, Any]:
        dm = bob.status_post("@alice just between us", visibility="direct")
        listed = alice.conversations()
        read = alice.conversations_read(listed[0]["id"])
        return {"dm": dm, "listed": listed, "read": read, "bobs": bob.conversations()}

    got = await asyncio.to_thread(conversations)
    listed = got["listed"]
    assert len(listed) == 1
    assert set(listed[0]) == CONVERSATION_FIELDS
    assert listed[0]["unread"] is True
    assert listed[0]["last_status"]["id"] == got["dm"]["id"]
    assert [a["acct"] for a in listed[0]["accounts"]] == ["bob"]
    assert got["read"]["unread"] is False
    assert [a["acct"] for a in got["bobs"][0]["accounts"]] == ["alice"]

    def refused() -> list[str]:
        errors = []
        for kwargs in (
            {"poll": alice.make_poll(["a", "b"], expires_in=600)},
            {"scheduled_at": datetime(2099, 1, 1, tzinfo=UTC)},
        ):
            with pytest.raises(MastodonAPIError) as caught:
                alice.status_post("no", **kwargs)
            errors.append(str(caught.value))
        return errors

    errors = await asyncio.to_thread(refused)
    assert "polls are not supported" in errors[0]
    assert "scheduled statuses are not supported" in errors[1]
