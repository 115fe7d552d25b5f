"""The social side of the client API over ASGI: notifications, relations, follow requests, credentials.

Each refusal has its accepted twin next to it (one scope, one id, one byte apart).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.config import Settings
from fediserver.models import Follow, User
from tests.conftest import SettingsFactory
from tests.mastodon.conftest import TokenFactory

Bearer = Callable[[str], dict[str, str]]
Sessions = async_sessionmaker[AsyncSession]
BASE = "http://127.0.0.1:8000"


@pytest.fixture
def settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    """Every case on SQLite and on PostgreSQL (prefix search, NOT IN and row-id paging differ in SQL)."""
    return make_settings(database={"url": database_url})


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 30), "purple").save(out, "PNG")
    return out.getvalue()


async def make_user(sessions: Sessions, name: str) -> User:
    async with sessions() as session:
        user = await accounts.create_user(session, name, f"password-{name}")
        await session.commit()
        return user


async def account_id(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> str:
    found = await client.get("/api/v1/accounts/lookup", params={"acct": name}, headers=headers)
    assert found.status_code == 200, found.text
    value: str = found.json()["id"]
    return value


async def favourite_of(client: httpx.AsyncClient, author: dict[str, str], fan: dict[str, str], text: str) -> Any:
    status = (await client.post("/api/v1/statuses", headers=author, json={"status": text})).json()
    liked = await client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=fan)
    assert liked.status_code == 200, liked.text
    return status


async def test_notifications__filters_paging_and_ownership(
    client: httpx.AsyncClient, sessions: Sessions, token_for: TokenFactory, bearer: Bearer, alice: User
) -> None:
    bob = await make_user(sessions, "bob")
    me, fan = bearer(await token_for()), bearer(await token_for(user=bob))
    first = await favourite_of(client, me, fan, "one")
    second = await favourite_of(client, me, fan, "two")
    listed = await client.get("/api/v1/notifications", headers=me, params={"types[]": "favourite", "limit": 1})
    assert listed.status_code == 200
    page = listed.json()
    assert [(n["type"], n["status"]["id"]) for n in page] == [("favourite", second["id"])]
    link = listed.headers["link"]
    assert link.index('rel="next"') < link.index('rel="prev"')
    assert "types%5B%5D=favourite" in link
    following = await client.get(link.split(">")[0].lstrip("<").removeprefix(BASE), headers=me)
    assert [n["status"]["id"] for n in following.json()] == [first["id"]]
    newer = await client.get("/api/v1/notifications", headers=me, params={"min_id": following.json()[0]["id"]})
    assert [n["id"] for n in newer.json()] == [page[0]["id"]]
    # Unknown types (Ivory and Phanpy send them) filter nothing out and match nothing in.
    excluded = await client.get(
        "/api/v1/notifications", headers=me, params={"exclude_types[]": ["severed_relationships", "favourite"]}
    )
    assert excluded.status_code == 200
    assert excluded.json() == []
    unknown = await client.get("/api/v1/notifications", headers=me, params={"types[]": "admin.sign_up"})
    assert unknown.json() == []
    assert "link" not in unknown.headers
    one = page[0]["id"]
    # Another account's notification does not exist for bob; for alice it does.
    assert (await client.get(f"/api/v1/notifications/{one}", headers=fan)).status_code == 404
    assert (await client.post(f"/api/v1/notifications/{one}/dismiss", headers=fan)).status_code == 404
    assert (await client.get(f"/api/v1/notifications/{one}", headers=me)).json()["id"] == one
    assert (await client.get("/api/v1/notifications/x1", headers=me)).status_code == 404
    assert (await client.get("/api/v1/notifications/unread_count", headers=me)).json() == {"count": 2}
    capped = await client.get("/api/v1/notifications/unread_count", headers=me, params={"limit": 1})
    assert capped.json() == {"count": 1}
    grouped = await client.get("/api/v2/notifications", headers=me, params={"grouped_types[]": "favourite"})
    body = grouped.json()
    assert [g["most_recent_notification_id"] for g in body["notification_groups"]] == [one, following.json()[0]["id"]]
    assert [g["status_id"] for g in body["notification_groups"]] == [second["id"], first["id"]]
    assert {s["id"] for s in body["statuses"]} == {first["id"], second["id"]}
    assert [a["username"] for a in body["accounts"]] == ["bob"]
    assert body["notification_groups"][0]["sample_account_ids"] == [body["accounts"][0]["id"]]
    assert 'rel="next"' in grouped.headers["link"]
    dismissed = await client.post(f"/api/v1/notifications/{one}/dismiss", headers=me)
    assert dismissed.status_code == 200
    assert dismissed.json() == {}
    assert (await client.get(f"/api/v1/notifications/{one}", headers=me)).status_code == 404
    # The status of a notification goes with it: a deleted post leaves no notification to show.
    assert (await client.delete(f"/api/v1/statuses/{first['id']}", headers=me)).status_code == 200
    assert (await client.get("/api/v1/notifications", headers=me)).json() == []


async def test_notifications__scopes(client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer) -> None:
    reader = bearer(await token_for("read:notifications"))
    assert (await client.get("/api/v1/notifications", headers=reader)).status_code == 200
    assert (await client.post("/api/v1/notifications/clear", headers=reader)).status_code == 403
    writer = bearer(await token_for("write:notifications"))
    assert (await client.post("/api/v1/notifications/clear", headers=writer)).status_code == 200
    assert (await client.get("/api/v1/notifications", headers=writer)).status_code == 403
    assert (await client.get("/api/v1/notifications")).status_code == 401


async def test_mute__hides_notifications_until_unmuted_and_duration_expires(
    client: httpx.AsyncClient, sessions: Sessions, token_for: TokenFactory, bearer: Bearer, alice: User
) -> None:
    bob = await make_user(sessions, "bob")
    me, fan = bearer(await token_for()), bearer(await token_for(user=bob))
    await favourite_of(client, me, fan, "hello")
    bob_id = await account_id(client, me, "bob")
    bad = await client.post(f"/api/v1/accounts/{bob_id}/mute", headers=me, json={"duration": -1})
    assert bad.status_code == 422
    muted = await client.post(f"/api/v1/accounts/{bob_id}/mute", headers=me, json={"duration": 3600})
    assert muted.json()["muting"] is True
    assert muted.json()["muting_notifications"] is True
    assert muted.json()["muting_expires_at"].endswith("Z")
    assert (await client.get("/api/v1/notifications", headers=me)).json() == []
    assert (await client.get("/api/v1/notifications/unread_count", headers=me)).json() == {"count": 0}
    listed = await client.get("/api/v1/mutes", headers=me)
    assert [a["id"] for a in listed.json()] == [bob_id]
    rel = (await client.get("/api/v1/accounts/relationships", params={"id[]": bob_id}, headers=me)).json()
    assert rel[0]["muting"] is True
    assert (await client.post(f"/api/v1/accounts/{bob_id}/unmute", headers=me)).json()["muting"] is False
    assert len((await client.get("/api/v1/notifications", headers=me)).json()) == 1
    assert (await client.get("/api/v1/mutes", headers=me)).json() == []
    me_id = await account_id(client, me, "alice")
    assert (await client.post(f"/api/v1/accounts/{me_id}/mute", headers=me)).status_code == 422


async def test_block__local_account_hides_followers_and_needs_its_scope(
    client: httpx.AsyncClient, sessions: Sessions, token_for: TokenFactory, bearer: Bearer, alice: User
) -> None:
    bob = await make_user(sessions, "bob")
    carol = await make_user(sessions, "carol")
    async with sessions() as session:
        # carol follows alice (local follows arrive with the social-core issue; the row is what they make).
        follow = Follow(follower_uri=f"{BASE}/users/carol", followed_uri=f"{BASE}/users/alice", activity_uri="f1")
        follow.state = "accepted"
        session.add(follow)
        await session.commit()
    me = bearer(await token_for())
    as_bob = bearer(await token_for(user=bob))
    as_carol = bearer(await token_for(user=carol))
    alice_id, bob_id = await account_id(client, me, "alice"), await account_id(client, me, "bob")
    reader = bearer(await token_for("read"))
    assert (await client.post(f"/api/v1/accounts/{bob_id}/block", headers=reader)).status_code == 403
    blocked = await client.post(f"/api/v1/accounts/{bob_id}/block", headers=bearer(await token_for("write:blocks")))
    assert blocked.status_code == 200
    assert blocked.json()["blocking"] is True
    again = await client.post(f"/api/v1/accounts/{bob_id}/block", headers=me)
    assert again.json()["blocking"] is True
    theirs = await client.get("/api/v1/accounts/relationships", params={"id[]": alice_id}, headers=as_bob)
    assert theirs.json()[0]["blocked_by"] is True
    assert (await client.get(f"/api/v1/accounts/{alice_id}/followers", headers=as_bob)).json() == []
    seen = await client.get(f"/api/v1/accounts/{alice_id}/followers", headers=as_carol)
    assert [a["username"] for a in seen.json()] == ["carol"]
    assert (await client.get(f"/api/v1/accounts/{alice_id}/followers")).json()[0]["username"] == "carol"
    carol_id = seen.json()[0]["id"]
    following = await client.get(f"/api/v1/accounts/{carol_id}/following", headers=as_bob)
    assert [a["username"] for a in following.json()] == ["alice"]
    assert [a["id"] for a in (await client.get("/api/v1/blocks", headers=me)).json()] == [bob_id]
    assert (await client.post(f"/api/v1/accounts/{bob_id}/unblock", headers=me)).json()["blocking"] is False
    unhidden = await client.get(f"/api/v1/accounts/{alice_id}/followers", headers=as_bob)
    assert [a["username"] for a in unhidden.json()] == ["carol"]
    assert (await client.get("/api/v1/blocks", headers=me)).json() == []
    assert (await client.post(f"/api/v1/accounts/{alice_id}/block", headers=me)).status_code == 422


async def test_follow_requests__none_pending_is_404(
    client: httpx.AsyncClient, sessions: Sessions, token_for: TokenFactory, bearer: Bearer, alice: User
) -> None:
    await make_user(sessions, "bob")
    me = bearer(await token_for())
    listed = await client.get("/api/v1/follow_requests", headers=me)
    assert listed.status_code == 200
    assert listed.json() == []
    bob_id = await account_id(client, me, "bob")
    assert (await client.post(f"/api/v1/follow_requests/{bob_id}/authorize", headers=me)).status_code == 404
    assert (await client.post(f"/api/v1/follow_requests/{bob_id}/reject", headers=me)).status_code == 404
    assert (await client.post("/api/v1/follow_requests/99999/reject", headers=me)).status_code == 404


async def test_update_credentials__validation_json_fields_and_flags(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer, alice: User
) -> None:
    me = bearer(await token_for())
    for body in (
        {"note": "x" * 501},
        {"display_name": "y" * 31},
        {"fields_attributes": [{"name": f"n{i}", "value": "v"} for i in range(5)]},
        {"fields_attributes": [{"name": "", "value": "a value without a name"}]},
        {"locked": "perhaps"},
        {"source": {"privacy": "direct"}},
        {"source[language]": "french"},
    ):
        refused = await client.patch("/api/v1/accounts/update_credentials", headers=me, json=body)
        assert refused.status_code == 422, body
        assert "error" in refused.json()
    changed = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=me,
        json={
            "note": "x" * 500,
            "bot": True,
            "discoverable": False,
            "fields_attributes": {"0": {"name": "a", "value": "1"}, "1": {"name": "", "value": ""}},
            "source": {"privacy": "unlisted"},
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["bot"] is True
    assert body["discoverable"] is False
    assert body["source"]["discoverable"] is False
    assert [(f["name"], f["value"]) for f in body["fields"]] == [("a", "1")]
    assert body["source"]["note"] == "x" * 500
    assert body["source"]["privacy"] == "unlisted"
    form = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=me,
        data={"source[privacy]": "private", "source[sensitive]": "true", "source[language]": "fr"},
    )
    assert (form.json()["source"]["privacy"], form.json()["source"]["language"]) == ("private", "fr")
    prefs = (await client.get("/api/v1/preferences", headers=me)).json()
    assert prefs["posting:default:visibility"] == "private"
    assert prefs["posting:default:sensitive"] is True
    assert prefs["posting:default:language"] == "fr"
    defaulted = (await client.post("/api/v1/statuses", headers=me, json={"status": "by default"})).json()
    assert (defaulted["visibility"], defaulted["sensitive"]) == ("private", True)
    chosen = await client.post("/api/v1/statuses", headers=me, json={"status": "chosen", "visibility": "public"})
    assert chosen.json()["visibility"] == "public"
    broken = await client.patch(
        "/api/v1/accounts/update_credentials", headers=me, files={"header": ("h.png", b"\x00" + png()[1:], "image/png")}
    )
    assert broken.status_code == 422
    header = await client.patch(
        "/api/v1/accounts/update_credentials", headers=me, files={"header": ("h.png", png(), "image/png")}
    )
    assert header.status_code == 200
    assert header.json()["header"].startswith(f"{BASE}/media/")
    assert header.json()["bot"] is True  # what was not sent is unchanged
    reader = bearer(await token_for("read"))
    denied = await client.patch("/api/v1/accounts/update_credentials", headers=reader, json={"bot": False})
    assert denied.status_code == 403


async def test_account_search__prefix_and_escaping(
    client: httpx.AsyncClient, sessions: Sessions, token_for: TokenFactory, bearer: Bearer, alice: User
) -> None:
    await make_user(sessions, "alfred")
    await make_user(sessions, "bob")
    me = bearer(await token_for())
    found = await client.get("/api/v1/accounts/search", headers=me, params={"q": "al"})
    assert [a["acct"] for a in found.json()] == ["alfred", "alice"]
    assert [a["acct"] for a in (await client.get(
        "/api/v1/accounts/search", headers=me, params={"q": "@alice@127.0.0.1:8000"}
    )).json()] == ["alice"]  # fmt: skip
    paged = await client.get("/api/v1/accounts/search", headers=me, params={"q": "al", "limit": 1, "offset": 1})
    assert [a["acct"] for a in paged.json()] == ["alice"]
    assert (await client.get("/api/v1/accounts/search", headers=me, params={"q": "lic"})).json() == []
    assert (await client.get("/api/v1/accounts/search", headers=me, params={"q": "%"})).json() == []
    assert (await client.get("/api/v1/accounts/search", headers=me, params={"q": "_lice"})).json() == []
    assert (await client.get("/api/v1/accounts/search", params={"q": "al"})).status_code == 401
