"""Mastodon.py (PyPI) against a live instance on loopback: app, OAuth code flow with PKCE through the real
login and consent forms, an image status with alt text, home and public timelines.

Entity field lists are copied from docs.joinmastodon.org (entities/Status, Account, MediaAttachment,
Instance), not from our output.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
import secrets
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from typing import Any

import httpx
from mastodon import Mastodon
from PIL import Image

from tests.federation.conftest import Instance

OOB = "urn:ietf:wg:oauth:2.0:oob"
SCOPES = ["read", "write", "follow", "push"]

# docs.joinmastodon.org/entities/Status/ (attributes not marked optional or "4.5+")
STATUS_FIELDS = {
    "id", "uri", "created_at", "account", "content", "visibility", "sensitive", "spoiler_text",
    "media_attachments", "mentions", "tags", "emojis", "reblogs_count", "favourites_count", "replies_count",
    "url", "in_reply_to_id", "in_reply_to_account_id", "reblog", "poll", "card", "language", "edited_at",
}  # fmt: skip
# docs.joinmastodon.org/entities/Account/
ACCOUNT_FIELDS = {
    "id", "username", "acct", "url", "display_name", "note", "avatar", "avatar_static", "header",
    "header_static", "locked", "fields", "emojis", "bot", "group", "discoverable", "created_at",
    "last_status_at", "statuses_count", "followers_count", "following_count", "uri", "indexable",
    "hide_collections", "roles",
}  # fmt: skip
# docs.joinmastodon.org/entities/MediaAttachment/
MEDIA_FIELDS = {"id", "type", "url", "preview_url", "remote_url", "meta", "description", "blurhash"}
# docs.joinmastodon.org/entities/Instance/
INSTANCE_V2_FIELDS = {
    "domain", "title", "version", "source_url", "description", "usage", "thumbnail", "icon", "languages",
    "configuration", "registrations", "api_versions", "contact", "rules",
}  # fmt: skip
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Forms(HTMLParser):
    """Every form's action and fields (inputs and the submit buttons' name/value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str], list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}, []))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1][1][a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1][2].append((a["name"], a.get("value", "")))


def parse_form(page: str) -> tuple[str, dict[str, str], list[tuple[str, str]]]:
    parser = Forms()
    parser.feed(page)
    assert len(parser.forms) == 1, page
    return parser.forms[0]


def png(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 32), color).save(out, "PNG")
    return out.getvalue()


async def authorize_in_browser(base: str, url: str, username: str, password: str) -> str:
    """Log in and approve through the server's own HTML forms, as a person would; returns the OOB code."""
    async with httpx.AsyncClient(base_url=base) as browser:
        page = await browser.get(url)
        assert page.status_code == 200
        assert page.headers["x-frame-options"] == "DENY"
        action, fields, _ = parse_form(page.text)
        fields.update(username=username, password=password)
        consent = await browser.post(action, data=fields)
        assert consent.status_code == 200, consent.text
        assert "fediserver_session" in browser.cookies
        action, fields, buttons = parse_form(consent.text)
        assert ("step", "approve") in buttons
        fields["step"] = "approve"
        shown = await browser.post(action, data=fields)
        assert shown.status_code == 200
        found = re.search(r'<code id="authorization_code">([^<]+)</code>', shown.text)
        assert found, shown.text
        return found.group(1)


async def test_mastodon_py__pkce_login_post_image_and_read_timelines(
    instances: Callable[..., Awaitable[Instance]],
) -> None:
    server = await instances("a", ["alice"])
    base = server.base

    def register() -> tuple[str, str]:
        client_id, secret = Mastodon.create_app("test app", api_base_url=base, scopes=SCOPES, redirect_uris=OOB)
        return str(client_id), str(secret)

    client_id, client_secret = await asyncio.to_thread(register)
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base)
    # PKCE by hand: Mastodon.py's auth_request_url builds the URL; we add the S256 challenge to it.
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    url = await asyncio.to_thread(api.auth_request_url, redirect_uris=OOB, scopes=SCOPES, allow_http=True)
    url += f"&code_challenge={challenge}&code_challenge_method=S256"
    assert "force_login=False" in url  # Mastodon.py's literal Python value, parsed as false
    code = await authorize_in_browser(base, url, "alice", "password-alice")

    async with httpx.AsyncClient(base_url=base) as http:
        # The code is bound to the verifier: without it (or with another) no token comes back.
        for wrong in ({}, {"code_verifier": verifier[:-1] + ("A" if verifier[-1] != "A" else "B")}):
            refused = await http.post(
                "/oauth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "redirect_uri": OOB,
                    **wrong,
                },
            )
            assert refused.status_code == 400
            assert refused.json()["error"] == "invalid_grant"
        answered = await http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": OOB,
                "code_verifier": verifier,
            },
        )
    assert answered.status_code == 200, answered.text
    token = answered.json()
    assert set(token["scope"].split()) == set(SCOPES)
    assert token["token_type"] == "Bearer"
    assert isinstance(token["created_at"], int)

    me = Mastodon(access_token=token["access_token"], api_base_url=base)

    def session() -> dict[str, Any]:
        account = me.account_verify_credentials()
        media = me.media_post(png(), mime_type="image/png", description="a red rectangle", focus=(0.5, -0.25))
        posted = me.status_post("hello from Mastodon.py", media_ids=[media], visibility="public")
        return {
            "account": account,
            "media": media,
            "posted": posted,
            "home": me.timeline_home(),
            "public": me.timeline_public(),
            "instance": me.instance_v2(),
            "fetched": me.status(posted["id"]),
        }

    got = await asyncio.to_thread(session)
    account = got["account"]
    assert set(account) >= ACCOUNT_FIELDS
    assert account["acct"] == "alice"
    assert account["username"] == "alice"
    assert account["avatar"]
    assert account["header"]
    media = got["media"]
    assert set(media) >= MEDIA_FIELDS
    assert media["type"] == "image"
    assert media["description"] == "a red rectangle"
    assert media["meta"]["original"]["width"] == 64
    assert media["meta"]["original"]["size"] == "64x32"
    assert media["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    posted = got["posted"]
    raw_status = await _raw(base, token["access_token"], f"/api/v1/statuses/{posted['id']}")
    assert set(raw_status) >= STATUS_FIELDS
    assert DATETIME.match(raw_status["created_at"])
    assert raw_status["id"].isdigit()
    assert raw_status["content"] == "<p>hello from Mastodon.py</p>"
    assert raw_status["filtered"] == []
    assert raw_status["url"]
    assert [m["description"] for m in raw_status["media_attachments"]] == ["a red rectangle"]
    assert [s["id"] for s in got["home"]] == [posted["id"]]
    assert [s["id"] for s in got["public"]] == [posted["id"]]
    assert got["fetched"]["id"] == posted["id"]
    assert set(got["instance"]) >= INSTANCE_V2_FIELDS
    assert got["instance"]["version"].startswith("4.3.0 (compatible; fediserver ")


async def _raw(base: str, token: str, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        response = await http.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        body: dict[str, Any] = response.json()
        return body
