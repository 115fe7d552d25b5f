"""Edit, source, history, bookmarks, pins, favourited_by and the caller's lists over ASGI (MD:/methods/statuses/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.mastodon.ids import snowflake
from fediserver.models import MediaAttachment
from tests.mastodon.conftest import TokenFactory
from tests.mastodon.test_api import png, post

Bearer = Callable[[str], dict[str, str]]
# docs.joinmastodon.org/entities/StatusEdit/
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


async def _upload(client: httpx.AsyncClient, headers: dict[str, str], description: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v2/media",
        headers=headers,
        files={"file": ("a.png", png(), "image/png")},
        data={"description": description},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_edit__source_history_and_media_attributes(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer
) -> None:
    headers = bearer(await token_for())
    first = await _upload(client, headers, "one")
    status = await post(client, headers, "before", media_ids=[first["id"]])
    assert status["edited_at"] is None
    second = await _upload(client, headers, "two")
    edited = await client.put(
        f"/api/v1/statuses/{status['id']}",
        headers=headers,
        json={
            "status": "after #tag",
            "spoiler_text": "cw",
            "media_ids": [second["id"], first["id"]],
            "media_attributes": [{"id": first["id"], "description": "one, better", "focus": "0.5,0.5"}],
        },
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["id"] == status["id"]
    assert body["edited_at"] is not None
    assert body["spoiler_text"] == "cw"
    assert body["sensitive"] is True
    assert [m["id"] for m in body["media_attachments"]] == [second["id"], first["id"]]
    assert body["media_attachments"][1]["description"] == "one, better"
    assert body["media_attachments"][1]["meta"]["focus"] == {"x": 0.5, "y": 0.5}
    source = (await client.get(f"/api/v1/statuses/{status['id']}/source", headers=headers)).json()
    assert source == {"id": status["id"], "text": "after #tag", "spoiler_text": "cw"}
    history = (await client.get(f"/api/v1/statuses/{status['id']}/history", headers=headers)).json()
    assert [set(v) for v in history] == [STATUS_EDIT_FIELDS, STATUS_EDIT_FIELDS]
    assert history[0]["content"] == "<p>before</p>"
    assert history[0]["spoiler_text"] == ""
    # Each version keeps the attachments, alt text and focus it had.
    assert [(m["id"], m["description"]) for m in history[0]["media_attachments"]] == [(first["id"], "one")]
    assert history[0]["media_attachments"][0]["meta"]["focus"] == {"x": 0.0, "y": 0.0}
    assert [m["description"] for m in history[1]["media_attachments"]] == ["two", "one, better"]
    assert history[1]["media_attachments"][1]["meta"]["focus"] == {"x": 0.5, "y": 0.5}
    # Attached media change through the status's edit, not PUT /media (Mastodon finds only unattached ones).
    attached = await client.put(f"/api/v1/media/{first['id']}", headers=headers, data={"description": "sneaky"})
    assert attached.status_code == 404
    assert "media_attributes" in attached.json()["error"]
    assert "after" in history[1]["content"]
    assert history[0]["created_at"] < history[1]["created_at"]
    # media_ids left out keeps the attachments; an empty JSON list removes them.
    kept = (await client.put(f"/api/v1/statuses/{status['id']}", headers=headers, json={"status": "x"})).json()
    assert len(kept["media_attachments"]) == 2
    history = (await client.get(f"/api/v1/statuses/{status['id']}/history", headers=headers)).json()
    assert [m["description"] for m in history[2]["media_attachments"]] == ["two", "one, better"]
    bare = await client.put(f"/api/v1/statuses/{status['id']}", headers=headers, json={"status": "y", "media_ids": []})
    assert bare.json()["media_attachments"] == []
    assert len((await client.get(f"/api/v1/statuses/{status['id']}/history", headers=headers)).json()) == 4


async def test_edit__only_the_author_and_valid_input(
    client: httpx.AsyncClient,
    token_for: TokenFactory,
    bearer: Bearer,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    headers = bearer(await token_for())
    status = await post(client, headers, "mine")
    async with sessions() as session:
        bob = await accounts.create_user(session, "bob", "password-bob")
        await session.commit()
    other = bearer(await token_for(user=bob))
    path = f"/api/v1/statuses/{status['id']}"
    assert (await client.put(path, headers=other, json={"status": "hijack"})).status_code == 404
    assert (await client.get(f"{path}/source", headers=other)).status_code == 404
    assert (await client.put(path, headers=headers, json={"status": ""})).status_code == 422
    assert (
        await client.put(path, headers=headers, json={"status": "x", "poll": {"options": ["a"]}})
    ).status_code == 422
    assert (await client.put(path, headers=headers, json={"status": "x" * 100_000})).status_code == 422
    read_only = bearer(await token_for("read"))
    assert (await client.put(path, headers=read_only, json={"status": "x"})).status_code == 403
    assert (await client.get(path, headers=headers)).json()["content"] == "<p>mine</p>"


async def test_bookmarks_pins_and_favourites__paged_by_their_own_ids(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    headers = bearer(await token_for())
    ids = [(await post(client, headers, f"n{i}"))["id"] for i in range(3)]
    for sid in (ids[0], ids[2], ids[1]):
        marked = (await client.post(f"/api/v1/statuses/{sid}/bookmark", headers=headers)).json()
        assert marked["bookmarked"] is True
    again = await client.post(f"/api/v1/statuses/{ids[0]}/bookmark", headers=headers)
    assert again.status_code == 200
    page = await client.get("/api/v1/bookmarks", headers=headers, params={"limit": 2})
    assert [s["id"] for s in page.json()] == [ids[1], ids[2]]  # newest bookmark first
    next_url = page.headers["link"].split(">")[0].lstrip("<")
    rest = await client.get(next_url, headers=headers)
    assert [s["id"] for s in rest.json()] == [ids[0]]
    prev_url = rest.headers["link"].split(", <")[1].split(">")[0]
    assert [s["id"] for s in (await client.get(prev_url, headers=headers)).json()] == [ids[1], ids[2]]
    assert (await client.post(f"/api/v1/statuses/{ids[0]}/unbookmark", headers=headers)).json()["bookmarked"] is False
    assert [s["id"] for s in (await client.get("/api/v1/bookmarks", headers=headers)).json()] == [ids[1], ids[2]]

    pinned = (await client.post(f"/api/v1/statuses/{ids[0]}/pin", headers=headers)).json()
    assert pinned["pinned"] is True
    account_id = pinned["account"]["id"]
    shown = (await client.get(f"/api/v1/accounts/{account_id}/statuses", params={"pinned": "true"})).json()
    assert [s["id"] for s in shown] == [ids[0]]
    assert (await client.post(f"/api/v1/statuses/{ids[0]}/unpin", headers=headers)).json()["pinned"] is False
    assert (await client.post(f"/api/v1/statuses/{ids[0]}/unpin", headers=headers)).status_code == 200
    assert (await client.get(f"/api/v1/accounts/{account_id}/statuses", params={"pinned": "true"})).json() == []
    direct = await post(client, headers, "secret", visibility="direct")
    assert (await client.post(f"/api/v1/statuses/{direct['id']}/pin", headers=headers)).status_code == 422

    async with sessions() as session:
        bob = await accounts.create_user(session, "bob", "password-bob")
        await session.commit()
    other = bearer(await token_for(user=bob))
    assert (await client.post(f"/api/v1/statuses/{ids[1]}/pin", headers=other)).status_code == 422
    # Bookmarks are private: bob's list is empty and alice's state is not his.
    assert (await client.get("/api/v1/bookmarks", headers=other)).json() == []
    assert (await client.get(f"/api/v1/statuses/{ids[1]}", headers=other)).json()["bookmarked"] is False

    for sid in (ids[1], ids[2]):
        await client.post(f"/api/v1/statuses/{sid}/favourite", headers=other)
    await client.post(f"/api/v1/statuses/{ids[1]}/favourite", headers=headers)
    await client.post(f"/api/v1/statuses/{ids[1]}/reblog", headers=other)
    favs = (await client.get("/api/v1/favourites", headers=other)).json()
    assert [s["id"] for s in favs] == [ids[2], ids[1]]
    by = (await client.get(f"/api/v1/statuses/{ids[1]}/favourited_by", headers=headers)).json()
    assert [a["acct"] for a in by] == ["alice", "bob"]
    limited = await client.get(f"/api/v1/statuses/{ids[1]}/favourited_by", params={"limit": 1})
    assert [a["acct"] for a in limited.json()] == ["alice"]
    assert "max_id=" in limited.headers["link"]
    boosted = (await client.get(f"/api/v1/statuses/{ids[1]}/reblogged_by")).json()
    assert [a["acct"] for a in boosted] == ["bob"]
    # Who liked a direct message is as private as the message.
    await client.post(f"/api/v1/statuses/{direct['id']}/favourite", headers=headers)
    assert (await client.get(f"/api/v1/statuses/{direct['id']}/favourited_by", headers=other)).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{direct['id']}/favourited_by", headers=headers)).status_code == 200


async def test_media__get_answers_206_until_the_file_is_stored(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    headers = bearer(await token_for())
    ready = await _upload(client, headers, "done")
    got = await client.get(f"/api/v1/media/{ready['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json()["url"]
    async with sessions() as session:
        alice = await accounts.get_user_actor(session, "alice")
        pending = MediaAttachment(local_actor_id=alice.id, media_type="image/png")
        session.add(pending)
        await session.commit()
        pending_id = snowflake(pending.created_at, pending.id)
    waiting = await client.get(f"/api/v1/media/{pending_id}", headers=headers)
    assert waiting.status_code == 206
    assert waiting.json()["url"] is None
    # One digit off names no media of hers.
    wrong = pending_id[:-1] + ("1" if pending_id[-1] != "1" else "2")
    assert (await client.get(f"/api/v1/media/{wrong}", headers=headers)).status_code == 404


async def test_private_statuses__history_source_marks_and_reactions_are_404_to_others(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer, sessions: async_sessionmaker[AsyncSession]
) -> None:
    headers = bearer(await token_for())
    async with sessions() as session:
        bob = await accounts.create_user(session, "bob", "password-bob")
        await session.commit()
    other = bearer(await token_for(user=bob))
    secret = await post(client, headers, "only for me", visibility="direct")
    public = await post(client, headers, "for all")
    for sid, status in ((secret["id"], 404), (public["id"], 200)):
        assert (await client.get(f"/api/v1/statuses/{sid}/history", headers=other)).status_code == status
        assert (await client.get(f"/api/v1/statuses/{sid}/reblogged_by", headers=other)).status_code == status
        assert (await client.post(f"/api/v1/statuses/{sid}/bookmark", headers=other)).status_code == status
    assert (await client.get(f"/api/v1/statuses/{secret['id']}/history")).status_code == 404
    assert (await client.get("/api/v1/bookmarks", headers=other)).json()[0]["id"] == public["id"]
