"""Property: the other input surfaces answer 2xx/3xx or a 4xx with a reason, never a 5xx (issue 8).

WebFinger's ``resource``, NodeInfo, actor, collection, note and media GETs with odd paths, queries and
Accept headers (signed and unsigned), and the generation API's JSON body, on a real instance on loopback.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import activitypub as ap

pytestmark = pytest.mark.fuzz

ACCEPTS = [
    ap.ACTIVITY_JSON, ap.LD_JSON_AS2, "application/ld+json", "text/html", "*/*", "", "application/json;q=x",
    "text/html;q=0, application/activity+json;q=1.5", "\x7f", "a" * 4000,
]  # fmt: skip
PATHS = [
    "/users/{}", "/users/{}/followers", "/users/{}/following", "/users/{}/outbox", "/users/{}/collections/featured",
    "/notes/{}", "/notes/{}/activity", "/notes/{}/replies", "/media/{}", "/nodeinfo/{}", "/api/v1/generations/{}",
    "/api/v1/generations/{}/events", "/.well-known/webfinger?resource={}", "/users/alice/outbox?page={}",
    "/users/alice/followers?page={}", "/{}",
]  # fmt: skip
segments = st.text(max_size=40) | st.sampled_from(["alice", "..", "%", "%ZZ", "%00", "a" * 3000, "0", "-1", "2.1"])
resources = (
    st.text(max_size=80)
    | st.builds("acct:{}@{}".format, st.text(max_size=20), st.text(max_size=20))
    | st.sampled_from(["acct:alice@", "acct:@host", "acct:alice@127.0.0.1:1", "https://x/users/alice", "acct:"])
)


def _status_ok(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        assert response.json().get("error"), "a JSON refusal gives its reason"


@pytest.fixture(scope="module")
def site(background: Any) -> Any:
    return background.start("site", ["alice"], worker={"poll_interval": 3600})


@pytest.fixture(scope="module")
def http(background: Any) -> httpx.Client:
    client: httpx.Client = background.http
    return client


@pytest.fixture(scope="module")
def signer(background: Any, site: Any) -> tuple[str, ap.PrivateKey]:
    async def key() -> tuple[str, ap.PrivateKey]:
        async with site.sessions() as session:
            actor = await site.user(session, "alice")
            return site.fed.urls.actor_key("alice"), ap.load_private_key(actor.private_key_pem)

    found: tuple[str, ap.PrivateKey] = background.run(key())
    return found


@given(resource=resources, accept=st.sampled_from(ACCEPTS))
def test_webfinger_resource__never_5xx(site: Any, http: httpx.Client, resource: str, accept: str) -> None:
    response = http.get(f"{site.base}/.well-known/webfinger", params={"resource": resource}, headers={"accept": accept})
    _status_ok(response)


def test_webfinger__the_honest_twin_finds_alice(site: Any, http: httpx.Client) -> None:
    response = http.get(
        f"{site.base}/.well-known/webfinger", params={"resource": f"acct:alice@{site.settings.instance.domain}"}
    )
    assert response.status_code == 200
    assert response.json()["subject"].startswith("acct:alice@")


@given(template=st.sampled_from(PATHS), segment=segments, accept=st.sampled_from(ACCEPTS) | st.text(max_size=30),
       signed=st.booleans())  # fmt: skip
def test_gets_with_odd_paths_and_accept__never_5xx(
    site: Any,
    http: httpx.Client,
    signer: tuple[str, ap.PrivateKey],
    template: str,
    segment: str,
    accept: str,
    signed: bool,
) -> None:
    url = site.base + template.format(quote(segment, safe="%"))
    headers: dict[str, Any] = {}
    if signed:
        headers = ap.sign_request(
            method="GET", url=url, headers={}, body=None, key_id=signer[0], private_key=signer[1],
            now=datetime.now(UTC),
        )  # fmt: skip
    # Raw bytes: a client may send any octets in a header (RFC 9110 §5.5 obs-text).
    headers["accept"] = accept.encode("utf-8", "surrogatepass")
    try:
        response = http.get(url, headers=headers)
    except (httpx.InvalidURL, httpx.LocalProtocolError):
        return  # refused by our own client (CR/LF in a header, a bad URL): nothing reached the server
    _status_ok(response)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
FIELD_VALUES = {
    "prompt": st.sampled_from(["a red fox", "", " ", "x" * 2001, "\u0000", "\ud800"]) | scalars,
    "negative_prompt": st.sampled_from(["blurry", "y" * 5000]) | scalars,
    "seed": st.sampled_from([0, 2**63 - 1, 2**63, -1, 10**400]) | scalars,
    "model": st.sampled_from(["", "nope/nope", "m" * 300]) | scalars,
    "steps": st.sampled_from([1, 0, 10**6, 2**64]) | scalars,
    "guidance": st.sampled_from([7.5, -1, 31, 10**400, 1e308]) | scalars,
    "width": st.sampled_from([64, 8, 10**9, 513]) | scalars,
    "height": st.sampled_from([64, 7, -64]) | scalars,
    "post": scalars,
    "text": st.sampled_from(["hello", "t" * 20_000]) | scalars,
    "visibility": st.sampled_from(["public", "unlisted", "followers", "direct", "secret"]) | scalars,
}
generation_bodies = (
    st.fixed_dictionaries({}, optional=FIELD_VALUES).map(lambda d: json.dumps(d, allow_nan=True).encode())
    | st.binary(max_size=100)
    | st.sampled_from([b'{"prompt":' * 3000, b"[]", b"NaN", b'{"prompt":"a","seed":1e999}'])
)


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@given(body=generation_bodies, auth=st.sampled_from([_basic("alice", "password-alice"), _basic("a\x00", "x"), ""]))
def test_generation_api_json__202_or_a_4xx(site: Any, http: httpx.Client, body: bytes, auth: str) -> None:
    headers = {"content-type": "application/json"}
    if auth:
        headers["authorization"] = auth
    response = http.post(f"{site.base}/api/v1/generations", content=body, headers=headers)
    _status_ok(response)
    assert response.status_code == 202 or response.status_code >= 400
    if response.status_code == 202:
        assert response.json()["state"] == "queued"


def test_generation_api__the_honest_twin_is_queued(site: Any, http: httpx.Client) -> None:
    body = json.dumps({"prompt": "a red fox", "seed": 1, "text": "hello"}).encode()
    headers = {"content-type": "application/json", "authorization": _basic("alice", "password-alice")}
    response = http.post(f"{site.base}/api/v1/generations", content=body, headers=headers)
    assert response.status_code == 202, response.text
    refused = json.dumps({"prompt": "a red fox", "seed": 1, "text": "t" * 20_000}).encode()
    response = http.post(f"{site.base}/api/v1/generations", content=refused, headers=headers)
    assert response.status_code == 422
    assert "text" in response.json()["error"]
