"""Client API conventions and endpoints over ASGI (clients.md §0, §4, §7, §8)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image

from tests.mastodon.conftest import TokenFactory

Bearer = Callable[[str], dict[str, str]]


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "blue").save(out, "PNG")
    return out.getvalue()


async def post(client: httpx.AsyncClient, headers: dict[str, str], text: str, **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/statuses", headers=headers, json={"status": text, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_unknown_api_path__json_404_and_cors(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response.json() == {"error": "Record not found"}
    assert response.headers["access-control-allow-origin"] == "*"
    assert "Link" in response.headers["access-control-expose-headers"]
    preflight = await client.options(
        "/api/v1/statuses",
        headers={"Origin": "https://elk.zone", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in preflight.headers
    page = await client.get("/users/nobody")
    assert "access-control-allow-origin" not in page.headers


async def test_instance__v1_and_v2_with_trailing_slash(client: httpx.AsyncClient) -> None:
    v1 = (await client.get("/api/v1/instance/")).json()
    # docs.joinmastodon.org/entities/V1_Instance/; Ice Cubes needs every polls field and the three stats.
    for key in ("uri", "title", "short_description", "description", "email", "version", "urls", "stats"):
        assert key in v1
    assert isinstance(v1["email"], str)
    assert set(v1["stats"]) == {"user_count", "status_count", "domain_count"}
    assert set(v1["configuration"]["polls"]) == {
        "max_options",
        "max_characters_per_option",
        "min_expiration",
        "max_expiration",
    }
    assert v1["urls"]["streaming_api"] == "ws://127.0.0.1:8000"
    v2 = (await client.get("/api/v2/instance/")).json()
    assert v2["configuration"]["urls"]["streaming"] == "ws://127.0.0.1:8000"
    assert v2["configuration"]["statuses"]["max_characters"] > 0
    assert "image/png" in v2["configuration"]["media_attachments"]["supported_mime_types"]
    assert v2["api_versions"] == {"mastodon": 2}


async def test_statuses__idempotency_key_returns_the_same_status(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer
) -> None:
    headers = {**bearer(await token_for()), "Idempotency-Key": "k1"}
    first = await post(client, headers, "once")
    second = await post(client, headers, "once")
    assert first["id"] == second["id"]
    other = await post(client, {**headers, "Idempotency-Key": "k2"}, "once")
    assert other["id"] != first["id"]


async def test_statuses__reply_context_favourite_and_delete(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer
) -> None:
    headers = bearer(await token_for())
    root = await post(client, headers, "root", spoiler_text="cw", visibility="unlisted")
    assert root["spoiler_text"] == "cw"
    assert root["sensitive"] is True
    assert root["visibility"] == "unlisted"
    reply = await post(client, headers, "reply", in_reply_to_id=root["id"])
    assert reply["in_reply_to_id"] == root["id"]
    assert reply["in_reply_to_account_id"] == root["account"]["id"]
    context = (await client.get(f"/api/v1/statuses/{reply['id']}/context", headers=headers)).json()
    assert [s["id"] for s in context["ancestors"]] == [root["id"]]
    assert context["descendants"] == []
    down = (await client.get(f"/api/v1/statuses/{root['id']}/context", headers=headers)).json()
    assert [s["id"] for s in down["descendants"]] == [reply["id"]]
    liked = (await client.post(f"/api/v1/statuses/{root['id']}/favourite", headers=headers)).json()
    assert liked["favourited"] is True
    assert liked["favourites_count"] == 1
    unliked = (await client.post(f"/api/v1/statuses/{root['id']}/unfavourite", headers=headers)).json()
    assert unliked["favourites_count"] == 0
    deleted = await client.delete(f"/api/v1/statuses/{reply['id']}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json()["text"] == "reply"
    assert (await client.get(f"/api/v1/statuses/{reply['id']}", headers=headers)).status_code == 404


async def test_statuses__validation_is_422(client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer) -> None:
    headers = bearer(await token_for())
    for body, status in (
        ({"status": ""}, 422),
        ({"status": "x", "scheduled_at": "2030-01-01T00:00:00Z"}, 422),
        ({"status": "x", "visibility": "everyone"}, 422),
        ({"status": "x", "media_ids": ["123"]}, 404),
    ):
        response = await client.post("/api/v1/statuses", headers=headers, json=body)
        assert response.status_code == status, (body, response.text)
        assert "error" in response.json()
    assert (await client.get("/api/v1/statuses/123", headers=headers)).status_code == 404
    assert (await client.get("/api/v1/statuses/not-an-id", headers=headers)).status_code == 404


async def test_media__v2_upload_get_update_and_attach_by_json_ids(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer
) -> None:
    headers = bearer(await token_for())
    uploaded = await client.post(
        "/api/v2/media",
        headers=headers,
        files={"file": ("a.png", png(), "image/png")},
        data={"description": "blue", "focus": "0.1,-0.2"},
    )
    assert uploaded.status_code == 200, uploaded.text
    media = uploaded.json()
    assert media["url"].startswith("http://127.0.0.1:8000/media/")
    assert media["meta"]["focus"] == {"x": 0.1, "y": -0.2}
    assert media["meta"]["small"]["size"] == "40x20"
    fetched = await client.get(f"/api/v1/media/{media['id']}", headers=headers)
    assert fetched.json()["url"] == media["url"]
    changed = await client.put(f"/api/v1/media/{media['id']}", headers=headers, data={"description": "navy"})
    assert changed.json()["description"] == "navy"
    bad = await client.post("/api/v2/media", headers=headers, files={"file": ("a.png", b"not an image", "image/png")})
    assert bad.status_code == 422
    status = await post(client, headers, "", media_ids=[media["id"]])
    assert [m["id"] for m in status["media_attachments"]] == [media["id"]]
    again = await client.post("/api/v1/statuses", headers=headers, json={"status": "x", "media_ids": [media["id"]]})
    assert again.status_code == 422


async def test_timelines__pagination_links_keep_filters(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer
) -> None:
    headers = bearer(await token_for())
    ids = [(await post(client, headers, f"n{i}"))["id"] for i in range(5)]
    first = await client.get("/api/v1/timelines/public", params={"limit": 2, "local": "true"}, headers=headers)
    assert [s["id"] for s in first.json()] == ids[::-1][:2]
    link = first.headers["link"]
    assert link.index('rel="next"') < link.index('rel="prev"')
    assert f"max_id={ids[3]}" in link
    assert "local=true" in link
    second = await client.get("/api/v1/timelines/public", params={"limit": 2, "local": "true", "max_id": ids[3]})
    assert [s["id"] for s in second.json()] == [ids[2], ids[1]]
    newer = await client.get("/api/v1/timelines/home", params={"min_id": ids[1], "limit": 2}, headers=headers)
    assert [s["id"] for s in newer.json()] == [ids[3], ids[2]]
    since = await client.get("/api/v1/timelines/home", params={"since_id": ids[1], "limit": 2}, headers=headers)
    assert [s["id"] for s in since.json()] == [ids[4], ids[3]]
    empty = await client.get("/api/v1/timelines/home", params={"max_id": ids[0]}, headers=headers)
    assert empty.json() == []
    assert "link" not in empty.headers


async def test_accounts__lookup_show_statuses_relationships(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer
) -> None:
    headers = bearer(await token_for())
    await post(client, headers, "mine")
    found = (await client.get("/api/v1/accounts/lookup", params={"acct": "alice"})).json()
    assert found["acct"] == "alice"
    assert found["statuses_count"] == 1
    assert len(found["last_status_at"]) == 10
    shown = (await client.get(f"/api/v1/accounts/{found['id']}")).json()
    assert shown["username"] == "alice"
    statuses = (await client.get(f"/api/v1/accounts/{found['id']}/statuses")).json()
    assert [s["content"] for s in statuses] == ["<p>mine</p>"]
    assert (await client.get(f"/api/v1/accounts/{found['id']}/statuses", params={"pinned": "true"})).json() == []
    rel = (await client.get("/api/v1/accounts/relationships", params={"id[]": found["id"]}, headers=headers)).json()
    assert rel[0]["id"] == found["id"]
    assert rel[0]["following"] is False
    assert (await client.get("/api/v1/accounts/999999")).status_code == 404


async def test_valid_empties(client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer) -> None:
    headers = bearer(await token_for())
    for path in (
        "/api/v1/custom_emojis",
        "/api/v2/filters",
        "/api/v1/lists",
        "/api/v1/notifications",
        "/api/v1/announcements",
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, path
        assert response.json() == []
    prefs = (await client.get("/api/v1/preferences", headers=headers)).json()
    assert prefs["posting:default:visibility"] == "public"
    assert (await client.get("/api/v1/markers", headers=headers)).json() == {}
    health = await client.get("/api/v1/streaming/health")
    assert health.text == "OK"


async def test_rate_limit__headers_then_429(make_settings: Any, engine: Any) -> None:
    from fediserver.app import AppOptions, create_app

    settings = make_settings(api={"rate_limit_requests": 2})
    app = create_app(settings, AppOptions(run_worker=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            first = await http.get("/api/v1/instance")
            assert first.headers["x-ratelimit-limit"] == "2"
            assert first.headers["x-ratelimit-remaining"] == "1"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first.headers["x-ratelimit-reset"])
            second = await http.get("/api/v1/instance")
            assert second.status_code == 200
            assert second.headers["x-ratelimit-remaining"] == "0"
            third = await http.get("/api/v1/instance")
            assert third.status_code == 429
            assert third.json() == {"error": "Too many requests"}
            assert third.headers["access-control-allow-origin"] == "*"
            # Other clients (another token) have their own budget.
            other = await http.get("/api/v1/instance", headers={"Authorization": "Bearer x"})
            assert other.status_code == 200
