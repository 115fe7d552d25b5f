"""Property: every body with a valid signature gets 202 (and is stored) or a 4xx with a reason (issue 8).

Bodies are signed with bob's real key on a second instance served on loopback, so each passes the
signature gate and reaches the parser; a 5xx or a dropped connection fails the property. The classes of
input are the ones the issue's outsider found breaking the inbox, then random JSON in every position.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

import activitypub as ap
from fediserver.models import InboundActivity

pytestmark = pytest.mark.fuzz

JSON = dict[str, Any]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
HOSTILE = [
    "", "\u0000", "\ud800", "x" * 3000, "javascript:alert(1)", "http://", "https://user:pw@example.com/x",
    "https://example.com/a#frag", "https://" + "a" * 2100 + ".example/", "ftp://example.com/", " https://e.com/",
    "https://e.com:99999/", "https://[::1/", 0, -1, 2**70, 1.5, 1e308, True, None, [], {}, [[["Create"]]],
    [None], [{}], {"id": []}, {"id": {"id": "https://e.com/"}}, ["https://e.com/", ["https://e.com/"]],
]  # fmt: skip
hostile_values = st.sampled_from(HOSTILE) | json_values
PATHS = [
    ("@context",), ("id",), ("type",), ("actor",), ("object",), ("to",), ("cc",), ("object", "id"),
    ("object", "type"), ("object", "content"), ("object", "tag"), ("object", "attachment"), ("object", "to"),
    ("object", "inReplyTo"), ("object", "attributedTo"), ("object", "url"), ("object", "@context"),
    ("object", "sensitive"), ("object", "contentMap"), ("object", "object"),
]  # fmt: skip


def templates(bob: str, alice: str, base: str) -> list[JSON]:
    """Valid activities from bob, with fresh ids; each mutation below starts from one of them."""
    tag = uuid.uuid4().hex
    note = {
        "id": f"{base}/notes/{tag}", "type": "Note", "attributedTo": bob, "content": "<p>hi</p>",
        "to": [ap.PUBLIC], "tag": [{"type": "Mention", "href": alice}],
    }  # fmt: skip
    follow = {"id": f"{bob}#follows/{tag}", "type": "Follow", "actor": bob, "object": alice}
    return [
        {"@context": ap.AS_CONTEXT, "id": f"{base}/notes/{tag}/activity", "type": "Create", "actor": bob,
         "to": [ap.PUBLIC], "object": note},
        {"@context": ap.AS_CONTEXT, **follow},
        {"@context": ap.AS_CONTEXT, "id": f"{bob}#likes/{tag}", "type": "Like", "actor": bob, "object": alice},
        {"@context": ap.AS_CONTEXT, "id": f"{bob}#undo/{tag}", "type": "Undo", "actor": bob, "object": follow},
        {"@context": ap.AS_CONTEXT, "id": f"{bob}#delete/{tag}", "type": "Delete", "actor": bob,
         "object": f"{base}/notes/{tag}"},
    ]  # fmt: skip


def _set(document: JSON, path: tuple[str, ...], value: Any, delete: bool) -> None:
    target: Any = document
    for name in path[:-1]:
        if not isinstance(target, dict) or not isinstance(target.get(name), dict):
            return
        target = target[name]
    if delete:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


@st.composite
def mutated(draw: st.DrawFn, bob: str, alice: str, base: str) -> bytes:
    document = draw(st.sampled_from(templates(bob, alice, base)))
    for _ in range(draw(st.integers(0, 3))):
        # A copy: HOSTILE's objects are shared, and a mutation may write into one (a cycle otherwise).
        _set(document, draw(st.sampled_from(PATHS)), copy.deepcopy(draw(hostile_values)), draw(st.booleans()))
    return json.dumps(document).encode()


def nested(depth: int, kind: str) -> bytes:
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    if kind == "array":
        return b"[" * depth + b"]" * depth
    # A signed Create whose object nests deep: passes a depth-unaware inbox, then breaks the worker.
    return b'{"type":"Create","object":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


bodies_raw = st.binary(max_size=300) | st.text(max_size=300).map(str.encode)
bodies_nested = st.builds(nested, st.integers(50, 6000), st.sampled_from(["object", "array", "create"]))


def post_signed(
    http: httpx.Client, target: Any, key: tuple[str, ap.PrivateKey], body: bytes, path: str
) -> httpx.Response:
    url = target.base + path
    headers = ap.sign_request(
        method="POST", url=url, headers={"content-type": ap.ACTIVITY_JSON}, body=body,
        key_id=key[0], private_key=key[1], now=datetime.now(UTC),
    )  # fmt: skip
    return http.post(url, content=body, headers=headers)


def stored(background: Any, instance: Any, activity_id: str) -> bool:
    async def look() -> bool:
        async with instance.sessions() as session:
            found = await session.scalar(select(InboundActivity.id).where(InboundActivity.activity_id == activity_id))
            return found is not None

    return bool(background.run(look()))


@pytest.fixture(scope="module")
def pair(background: Any) -> tuple[Any, Any, tuple[str, ap.PrivateKey]]:
    a = background.start("a", ["alice"], worker={"poll_interval": 3600})
    b = background.start("b", ["bob"])

    async def key() -> tuple[str, ap.PrivateKey]:
        async with b.sessions() as session:
            actor = await b.user(session, "bob")
            return b.fed.urls.actor_key("bob"), ap.load_private_key(actor.private_key_pem)

    return a, b, background.run(key())


def check(background: Any, a: Any, response: httpx.Response, body: bytes) -> None:
    """202 and stored, or a 4xx whose JSON body gives the reason."""
    assert response.status_code < 500, response.text
    if response.status_code == 202:
        document = json.loads(body)
        assert stored(background, a, document["id"]), "accepted but not stored"
    else:
        assert 400 <= response.status_code < 500, response.status_code
        assert response.json()["error"], "a refusal gives its reason"


PATH_CHOICES = st.sampled_from(["/inbox", "/users/alice/inbox"])


@given(data=st.data(), path=PATH_CHOICES)
def test_mutated_activities__get_202_or_a_4xx(pair: Any, background: Any, data: st.DataObject, path: str) -> None:
    a, b, key = pair
    body = data.draw(mutated(b.actor_url("bob"), a.actor_url("alice"), b.base))
    check(background, a, post_signed(background.http, a, key, body, path), body)


@given(body=bodies_raw | bodies_nested, path=PATH_CHOICES)
def test_raw_and_deep_bodies__get_a_4xx(pair: Any, background: Any, body: bytes, path: str) -> None:
    a, _, key = pair
    response = post_signed(background.http, a, key, body, path)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["error"]


def test_the_issues_reproducers__each_get_400(pair: Any, background: Any) -> None:
    a, b, key = pair
    bob, alice = b.actor_url("bob"), a.actor_url("alice")
    cases: list[tuple[tuple[str, ...], Any, str]] = [
        (("@context",), "", "@context"),
        (("@context",), "\u0000", "NUL"),
        (("@context",), "garbage " * 500, "@context"),
        (("@context",), 5, "@context"),
        (("type",), 5, "type"),
        (("type",), [["Create"]], "type"),
        (("object",), None, "object"),
        (("object",), 7, "object"),
        (("id",), ["https://x.example/1"], "id"),
        (("id",), {"id": "https://x.example/1"}, "id"),
        (("id",), f"{b.base}/" + "a" * 2100, "2048"),
        (("actor",), [bob, bob], "actor"),
        (("object", "tag"), [{"type": "Mention", "href": alice}] * 300, "tags"),
    ]
    for path, value, reason in cases:
        document = templates(bob, alice, b.base)[0]
        _set(document, path, value, False)
        body = json.dumps(document).encode()
        response = post_signed(background.http, a, key, body, "/users/alice/inbox")
        assert response.status_code == 400, (path, value, response.text)
        assert reason in response.json()["error"], (path, response.json())
    # The twin: the same template unchanged is accepted and stored.
    honest = json.dumps(templates(bob, alice, b.base)[0]).encode()
    response = post_signed(background.http, a, key, honest, "/users/alice/inbox")
    assert response.status_code == 202
    check(background, a, response, honest)
    for depth in (65, 930, 5000):
        response = post_signed(background.http, a, key, nested(depth, "create"), "/inbox")
        assert response.status_code == 400
        assert "deeper than 64" in response.json()["error"]
