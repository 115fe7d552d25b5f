"""Property: the client-facing inputs answer 2xx or a 4xx with a reason, never a 5xx (issue 8).

The Mastodon API's JSON and form bodies (``POST /api/v1/statuses``, media upload and update), OAuth
(``/oauth/token``, ``/api/v1/apps``), the C2S outbox POST, and the web forms (login, signup, compose), on a
real instance on loopback. Each surface has an honest twin that must succeed, so the fuzzing reaches the
code behind the authentication. Default run: a small derandomized budget; ``FEDISERVER_FUZZ=1`` runs long.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select

import activitypub as ap
from fediserver.models import User
from fediserver.oauth import grants
from fediserver.oauth.scopes import Scopes

pytestmark = pytest.mark.fuzz

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "password-alice"

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
texts = st.text(max_size=40) | st.sampled_from(["", "\x00", "\ud800", "x" * 20_000, "-1", "1e999", "[]", "0" * 400])


def _status_ok(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        assert isinstance(body, dict)
        assert body.get("error"), "a JSON refusal gives its reason"


def _json_body(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[bytes]:
    documents = st.fixed_dictionaries({}, optional=fields).map(lambda d: json.dumps(d, allow_nan=True).encode())
    return documents | st.binary(max_size=80) | st.sampled_from([b"[]", b"null", b'{"a":' * 3000, b"NaN"])


def _form_body(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(names) | st.text(max_size=10), texts, max_size=6)


def _png(size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


PNG = _png()
FILES = [PNG, PNG[:20], PNG[:-12], b"", b"GIF89a" + b"\x00" * 30, b"\xff\xd8\xff" + b"\x00" * 50, b"RIFF\x00\x00"]


@pytest.fixture(scope="module")
def site(background: Any) -> Any:
    # The long run (FEDISERVER_FUZZ=1) sends thousands of requests with one token: no rate limit for the twins to hit.
    return background.start(
        "clients", ["alice"], worker={"poll_interval": 3600}, instance={"registration": "open"},
        api={"rate_limit_requests": 10**9},
    )  # fmt: skip


@pytest.fixture(scope="module")
def token(background: Any, site: Any) -> str:
    async def issue() -> str:
        async with site.sessions() as session:
            actor = await site.user(session, "alice")
            user = await session.scalar(select(User).where(User.actor_id == actor.id))
            scopes = Scopes.parse("read write follow push")
            app, _ = await grants.register_app(session, "fuzz", [grants.OOB], scopes, None)
            issued = await grants.issue_token(session, app, user, scopes)
            await session.commit()
            return issued.access_token

    found: str = background.run(issue())
    return found


@pytest.fixture(scope="module")
def api(token: str) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, headers={"authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture(scope="module")
def media_id(site: Any, api: httpx.Client) -> str:
    return _upload(site, api)


def _upload(site: Any, api: httpx.Client) -> str:
    response = api.post(f"{site.base}/api/v2/media", files={"file": ("a.png", PNG, "image/png")})
    assert response.status_code in (200, 202), response.text
    found: str = response.json()["id"]
    return found


STATUS_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "status": texts | json_values,
    "visibility": st.sampled_from(["public", "unlisted", "private", "direct", "secret", ""]) | json_values,
    "in_reply_to_id": st.sampled_from(["1", "0", "-1", "99999999999999999999999", "abc"]) | json_values,
    "media_ids": st.lists(st.sampled_from(["1", "x", "-5", "18446744073709551616"]) | json_values, max_size=5)
    | json_values,
    "sensitive": json_values,
    "spoiler_text": texts | json_values,
    "language": st.sampled_from(["en", "", "xx-YYYY-zz", "e" * 300]) | json_values,
    "poll": json_values,
    "scheduled_at": st.sampled_from(["2030-01-01T00:00:00Z", "yesterday", ""]) | json_values,
}


@given(body=_json_body(STATUS_FIELDS))
def test_statuses_json__never_5xx(site: Any, api: httpx.Client, body: bytes) -> None:
    _status_ok(api.post(f"{site.base}/api/v1/statuses", content=body, headers={"content-type": "application/json"}))


@given(form=_form_body([*STATUS_FIELDS, "media_ids[]", "poll[options][]", "poll[expires_in]"]))
def test_statuses_form__never_5xx(site: Any, api: httpx.Client, form: dict[str, str]) -> None:
    try:
        response = api.post(f"{site.base}/api/v1/statuses", data=form)
    except (httpx.InvalidURL, UnicodeEncodeError):
        return  # a lone surrogate our own client cannot encode: nothing reached the server
    _status_ok(response)


def test_statuses__the_honest_twin_posts(site: Any, api: httpx.Client, media_id: str) -> None:
    response = api.post(f"{site.base}/api/v1/statuses", json={"status": "hello", "media_ids": [media_id]})
    assert response.status_code == 200, response.text
    assert response.json()["media_attachments"][0]["id"] == media_id


@given(
    data=st.sampled_from(FILES) | st.binary(max_size=200),
    mime=st.sampled_from(["image/png", "image/jpeg", "image/webp", "text/html", "", "application/x-evil"]),
    fields=_form_body(["description", "focus", "thumbnail"]),
)
def test_media_upload__never_5xx(site: Any, api: httpx.Client, data: bytes, mime: str, fields: dict[str, str]) -> None:
    try:
        response = api.post(f"{site.base}/api/v2/media", files={"file": ("f", data, mime)}, data=fields)
    except (httpx.InvalidURL, UnicodeEncodeError):
        return
    _status_ok(response)


MEDIA_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "description": texts | json_values,
    "focus": st.sampled_from(["0,0", "1,-1", "2,2", "x,y", ",", "0.5", "nan,nan", "1e999,0"]) | json_values,
}


@given(body=_json_body(MEDIA_FIELDS), which=st.sampled_from(["mine", "0", "x", "99999999999999999999"]))
def test_media_update__never_5xx(site: Any, api: httpx.Client, media_id: str, body: bytes, which: str) -> None:
    target = media_id if which == "mine" else which
    response = api.put(f"{site.base}/api/v1/media/{target}", content=body, headers={"content-type": "application/json"})
    _status_ok(response)


def test_media__the_honest_twin_updates(site: Any, api: httpx.Client) -> None:
    # A fresh upload: the shared one is on a status by now, and Mastodon updates only unattached media.
    fresh = _upload(site, api)
    response = api.put(f"{site.base}/api/v1/media/{fresh}", json={"description": "a red square", "focus": "0.5,-0.5"})
    assert response.status_code == 200, response.text
    assert response.json()["description"] == "a red square"


OAUTH_NAMES = ["grant_type", "client_id", "client_secret", "redirect_uri", "code", "scope", "username", "password"]
grant_types = st.sampled_from(["authorization_code", "client_credentials", "password", "refresh_token", "", "x"])


@given(form=_form_body(OAUTH_NAMES), grant=grant_types, as_json=st.booleans())
def test_oauth_token__never_5xx(site: Any, background: Any, form: dict[str, str], grant: str, as_json: bool) -> None:
    form = {"grant_type": grant, **form}
    http: httpx.Client = background.http
    try:
        if as_json:
            response = http.post(f"{site.base}/oauth/token", json=form)
        else:
            response = http.post(f"{site.base}/oauth/token", data=form)
    except (httpx.InvalidURL, UnicodeEncodeError):
        return
    _status_ok(response)


APP_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "client_name": texts | json_values,
    "redirect_uris": st.sampled_from([grants.OOB, "https://app.example/cb", "javascript:x", "", "https://a b"])
    | st.lists(st.sampled_from([grants.OOB, "http://[::1", "x"]), max_size=3)
    | json_values,
    "scopes": st.sampled_from(["read", "read write", "admin:read", "nope", "", "read " * 500]) | json_values,
    "website": texts | json_values,
}


@given(body=_json_body(APP_FIELDS))
def test_apps__never_5xx(site: Any, background: Any, body: bytes) -> None:
    http: httpx.Client = background.http
    _status_ok(http.post(f"{site.base}/api/v1/apps", content=body, headers={"content-type": "application/json"}))


def test_oauth__the_honest_twin_gets_a_token(site: Any, background: Any) -> None:
    http: httpx.Client = background.http
    app = http.post(f"{site.base}/api/v1/apps", json={"client_name": "twin", "redirect_uris": grants.OOB})
    assert app.status_code == 200, app.text
    found = app.json()
    credentials = {"client_id": found["client_id"], "client_secret": found["client_secret"]}
    response = http.post(f"{site.base}/oauth/token", data={"grant_type": "client_credentials", **credentials})
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]


def _outbox_bodies(site_base: str) -> st.SearchStrategy[bytes]:
    note: dict[str, st.SearchStrategy[Any]] = {
        "type": st.sampled_from(["Note", "Image", "Question", ""]) | json_values,
        "content": texts | json_values,
        "to": st.sampled_from([ap.PUBLIC, f"{site_base}/users/alice/followers", "acct:x"]) | json_values,
        "inReplyTo": st.sampled_from([f"{site_base}/notes/x", "ftp://x", ""]) | json_values,
        "attachment": json_values,
        "tag": json_values,
        "summary": texts | json_values,
    }
    activity: dict[str, st.SearchStrategy[Any]] = {
        "@context": st.sampled_from([ap.AS_CONTEXT, "", "\x00"]) | json_values,
        "type": st.sampled_from(["Create", "Like", "Follow", "Undo", "Delete", "Update", "Announce", "Block"])
        | json_values,
        "object": st.fixed_dictionaries({}, optional=note) | json_values,
        "to": json_values,
        "cc": json_values,
        "actor": st.sampled_from([f"{site_base}/users/alice", "https://evil.example/u"]) | json_values,
    }
    return _json_body(activity)


@given(data=st.data())
def test_c2s_outbox__never_5xx(site: Any, api: httpx.Client, data: st.DataObject) -> None:
    body = data.draw(_outbox_bodies(site.base))
    headers = {"content-type": ap.ACTIVITY_JSON}
    _status_ok(api.post(f"{site.base}/users/alice/outbox", content=body, headers=headers))


def test_c2s_outbox__the_honest_twin_posts(site: Any, api: httpx.Client) -> None:
    note = {"type": "Note", "content": "hello over C2S", "to": [ap.PUBLIC]}
    body = json.dumps({"@context": ap.AS_CONTEXT, "type": "Create", "object": note}).encode()
    response = api.post(f"{site.base}/users/alice/outbox", content=body, headers={"content-type": ap.ACTIVITY_JSON})
    assert response.status_code == 201, response.text


def _browser(site: Any, *, logged_in: bool) -> httpx.Client:
    client = httpx.Client(base_url=site.base, timeout=60)
    if logged_in:
        csrf = _csrf(client, "/login")
        response = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf": csrf, "next": "/"})
        assert response.status_code in (302, 303), response.text[:300]
    return client


def _csrf(client: httpx.Client, page: str) -> str:
    found = CSRF_RE.search(client.get(page).text)
    assert found is not None, f"no form on {page}"
    return found.group(1)


@pytest.fixture(scope="module")
def visitor(site: Any) -> Iterator[httpx.Client]:
    client = _browser(site, logged_in=False)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def member(site: Any) -> Iterator[httpx.Client]:
    client = _browser(site, logged_in=True)
    try:
        yield client
    finally:
        client.close()


FORMS = {
    "/login": ("/login", ["username", "password", "next"]),
    "/signup": ("/signup", ["username", "password", "password2", "email", "reason", "agreement"]),
    "/compose/post": ("/compose", ["text", "visibility", "summary", "sensitive", "in_reply_to", "alt", "focus"]),
    "/compose/generate": ("/compose", ["prompt", "text", "visibility", "seed", "model", "steps", "width"]),
}


@given(action=st.sampled_from(sorted(FORMS)), data=st.data(), honest_csrf=st.booleans())
def test_web_forms__never_5xx(
    visitor: httpx.Client, member: httpx.Client, action: str, data: st.DataObject, honest_csrf: bool
) -> None:
    page, names = FORMS[action]
    client = member if action.startswith("/compose") else visitor
    form = data.draw(_form_body(names))
    form["csrf"] = _csrf(client, page) if honest_csrf else data.draw(texts)
    try:
        response = client.post(action, data=form)
    except (httpx.InvalidURL, UnicodeEncodeError):
        return
    assert response.status_code < 500, (action, response.status_code, response.text[:300])


def test_web_forms__the_honest_twin_posts(member: httpx.Client) -> None:
    response = member.post("/compose/post", data={"text": "hello from the form", "csrf": _csrf(member, "/compose")})
    assert response.status_code in (302, 303), response.text[:300]
