"""Direct-message conversations over ASGI (MD:/methods/conversations/, entities/Conversation/)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.config import Settings
from tests.mastodon.conftest import TokenFactory
from tests.mastodon.test_api import post

Bearer = Callable[[str], dict[str, str]]


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    """On SQLite and PostgreSQL: who is addressed is read from the JSON text of ``to``/``cc`` on both."""
    return make_settings(database={"url": database_url})


async def test_conversations__thread_unread_read_remove_and_return(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        bob = await accounts.create_user(session, "bob", "password-bob")
        carol = await accounts.create_user(session, "carol", "password-carol")
        await session.commit()
    alice_h, bob_h, carol_h = (
        bearer(await token_for()),
        bearer(await token_for(user=bob)),
        bearer(await token_for(user=carol)),
    )
    await post(client, alice_h, "not a conversation")
    first = await post(client, alice_h, "@bob psst", visibility="direct")
    reply = await post(client, bob_h, "@alice yes?", visibility="direct", in_reply_to_id=first["id"])
    other = await post(client, bob_h, "@alice another thread", visibility="direct")

    listed = await client.get("/api/v1/conversations", headers=alice_h)
    assert listed.status_code == 200
    body = listed.json()
    assert [set(c) for c in body] == [{"id", "unread", "accounts", "last_status"}] * 2
    assert [c["last_status"]["id"] for c in body] == [other["id"], reply["id"]]
    assert body[1]["id"] == first["id"]  # a conversation is named by its root status
    assert [a["acct"] for a in body[1]["accounts"]] == ["bob"]
    assert [c["unread"] for c in body] == [True, True]
    assert "link" in listed.headers

    bobs = (await client.get("/api/v1/conversations/", headers=bob_h)).json()
    assert [c["last_status"]["id"] for c in bobs] == [other["id"], reply["id"]]
    assert bobs[1]["unread"] is True  # alice's first message is the last one from someone else
    assert bobs[0]["unread"] is False  # bob wrote the last message himself
    assert (await client.get("/api/v1/conversations", headers=carol_h)).json() == []
    assert (await client.post(f"/api/v1/conversations/{first['id']}/read", headers=carol_h)).status_code == 404

    wrong = first["id"][:-1] + ("1" if first["id"][-1] != "1" else "2")
    assert (await client.post(f"/api/v1/conversations/{wrong}/read", headers=alice_h)).status_code == 404
    assert (await client.delete(f"/api/v1/conversations/{wrong}", headers=alice_h)).status_code == 404
    marked = await client.post(f"/api/v1/conversations/{first['id']}/read", headers=alice_h)
    assert marked.status_code == 200
    assert marked.json()["unread"] is False
    paged = await client.get("/api/v1/conversations", headers=alice_h, params={"limit": 1})
    assert [c["id"] for c in paged.json()] == [other["id"]]
    assert f"max_id={other['id']}" in paged.headers["link"]
    older = await client.get("/api/v1/conversations", headers=alice_h, params={"max_id": other["id"]})
    assert [(c["id"], c["unread"]) for c in older.json()] == [(first["id"], False)]

    removed = await client.delete(f"/api/v1/conversations/{first['id']}", headers=alice_h)
    assert removed.status_code == 200
    assert removed.json() == {}
    assert [c["id"] for c in (await client.get("/api/v1/conversations", headers=alice_h)).json()] == [other["id"]]
    # A new message in the thread brings it back, unread.
    await post(client, bob_h, "@alice still there?", visibility="direct", in_reply_to_id=reply["id"])
    back = (await client.get("/api/v1/conversations", headers=alice_h)).json()
    assert [(c["id"], c["unread"]) for c in back] == [(first["id"], True), (other["id"], True)]
    # A direct reply to a public post is named after itself: only the user's direct posts make a thread.
    shout = await post(client, carol_h, "hello world")
    aside = await post(client, alice_h, "@bob about that", visibility="direct", in_reply_to_id=shout["id"])
    newest = (await client.get("/api/v1/conversations", headers=bob_h)).json()[0]
    assert newest["id"] == aside["id"]
    assert [a["acct"] for a in newest["accounts"]] == ["alice", "carol"]
    read_only = bearer(await token_for("read"))
    assert (await client.post(f"/api/v1/conversations/{first['id']}/read", headers=read_only)).status_code == 403
