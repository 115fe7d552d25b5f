"""The inbox's review findings (issue 8): probing, echo amplification, slow keys holding connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import activitypub as ap
from fediserver.models import InboundActivity
from tests.federation.conftest import steadily_held

Factory = Callable[..., Awaitable[Any]]


async def _key(instance: Any, username: str) -> tuple[str, ap.PrivateKey]:
    async with instance.sessions() as session:
        actor = await instance.user(session, username)
        return instance.fed.urls.actor_key(username), ap.load_private_key(actor.private_key_pem)


async def _post(url: str, activity: dict[str, Any], key: tuple[str, ap.PrivateKey] | None) -> httpx.Response:
    body = json.dumps(activity).encode()
    headers = {"content-type": ap.ACTIVITY_JSON}
    if key is not None:
        headers = ap.sign_request(
            method="POST", url=url, headers=headers, body=body, key_id=key[0], private_key=key[1],
            now=datetime.now(UTC),
        )  # fmt: skip
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, content=body, headers=headers)


def _like(actor: str, n: int, target: str) -> dict[str, Any]:
    return {"@context": ap.AS_CONTEXT, "id": f"{actor}#likes/{n}", "type": "Like", "actor": actor, "object": target}


async def test_personal_inbox__checks_the_signature_before_the_user(instances: Factory) -> None:
    a, b = await instances("a", ["alice"]), await instances("b", ["bob"])
    bob, alice = b.actor_url("bob"), a.actor_url("alice")
    unsigned = await _post(f"{a.base}/users/nobody/inbox", _like(bob, 1, alice), None)
    assert unsigned.status_code == 401, "an unsigned request learns nothing about which users exist"
    signed_unknown = await _post(f"{a.base}/users/nobody/inbox", _like(bob, 2, alice), await _key(b, "bob"))
    assert signed_unknown.status_code == 404
    assert "nobody" in signed_unknown.json()["error"]
    signed_known = await _post(f"{a.base}/users/alice/inbox", _like(bob, 3, alice), await _key(b, "bob"))
    assert signed_known.status_code == 202


async def test_accept__embeds_only_what_identifies_the_follow(instances: Factory, wait: Any) -> None:
    a, b = await instances("a", ["alice"]), await instances("b", ["bob"])
    bob, alice = b.actor_url("bob"), a.actor_url("alice")
    follow = {
        "@context": ap.AS_CONTEXT, "id": f"{bob}#follows/1", "type": "Follow", "actor": bob, "object": alice,
        "padding": "x" * 150_000, "to": [alice],
    }  # fmt: skip
    assert (await _post(a.fed.urls.inbox("alice"), follow, await _key(b, "bob"))).status_code == 202
    a.wake()

    async def accept_at_b() -> InboundActivity | None:
        async with b.sessions() as session:
            found: InboundActivity | None = await session.scalar(
                select(InboundActivity).where(InboundActivity.activity_type == "Accept")
            )
            return found

    accept = await wait(accept_at_b)
    assert accept.body["object"] == {"id": f"{bob}#follows/1", "type": "Follow", "actor": bob, "object": alice}
    assert len(json.dumps(accept.body)) < 2_000, "the Accept does not echo what the sender padded its Follow with"


async def test_key_fetch__holds_no_database_connection(
    instances: Factory, serve_app: Callable[[Starlette], Awaitable[str]]
) -> None:
    a = await instances("a", ["alice"], worker={"poll_interval": 3600})
    pool = a.app.state.engine.sync_engine.pool
    seen: list[str] = []
    arrived = asyncio.Event()
    release = asyncio.Event()
    concurrent = 8

    async def slow_key(request: Request) -> Response:
        seen.append(request.url.path)
        if len(seen) == concurrent:
            arrived.set()
        await release.wait()
        return JSONResponse({"error": "gone"}, status_code=404)

    slow = await serve_app(Starlette(routes=[Route("/{actor}", slow_key)]))
    forged = ap.generate_rsa_key()
    # Eight signers (requests signed with one key share one fetch of it: federation.remote).
    posts = [
        asyncio.create_task(
            _post(
                a.fed.urls.shared_inbox(),
                _like(f"{slow}/actor{n}", n, a.actor_url("alice")),
                (f"{slow}/actor{n}#main-key", forged),
            )
        )
        for n in range(concurrent)
    ]
    await asyncio.wait_for(arrived.wait(), 60)
    # Every request is now waiting on the slow key host (and the worker sleeps): none may hold a connection.
    held = await steadily_held(pool)
    async with httpx.AsyncClient() as http:
        profile = await http.get(a.actor_url("alice"), headers={"accept": ap.ACTIVITY_JSON})
    release.set()
    responses = await asyncio.gather(*posts)
    assert held == 0, f"{held} connections held while {concurrent} requests wait for a key"
    assert profile.status_code == 200
    assert {r.status_code for r in responses} == {401}


async def test_signed_get_of_a_private_note__key_fetch_holds_no_database_connection(
    instances: Factory, serve_app: Callable[[Starlette], Awaitable[str]]
) -> None:
    from fediserver.domain.posts import PostDraft, publish_post

    a = await instances("a", ["alice"], worker={"poll_interval": 3600})
    async with a.sessions() as session:
        alice = await a.user(session, "alice")
        note = await publish_post(
            a.app.state.services, session, alice, PostDraft(text="only fans", visibility="followers")
        )
        await session.commit()
        note_url = note.uri
    pool = a.app.state.engine.sync_engine.pool
    seen: list[str] = []
    arrived = asyncio.Event()
    release = asyncio.Event()
    concurrent = 8

    async def slow_key(request: Request) -> Response:
        seen.append(request.url.path)
        if len(seen) == concurrent:
            arrived.set()
        await release.wait()
        return JSONResponse({"error": "gone"}, status_code=404)

    slow = await serve_app(Starlette(routes=[Route("/{actor}", slow_key)]))
    key = ap.generate_rsa_key()

    async def signed_get(n: int) -> httpx.Response:
        # Eight signers (requests signed with one key share one fetch of it: federation.remote).
        headers = ap.sign_request(
            method="GET", url=note_url, headers={"accept": ap.ACTIVITY_JSON}, body=None,
            key_id=f"{slow}/actor{n}#main-key", private_key=key, now=datetime.now(UTC),
        )  # fmt: skip
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.get(note_url, headers=headers)

    gets = [asyncio.create_task(signed_get(n)) for n in range(concurrent)]
    await asyncio.wait_for(arrived.wait(), 60)
    held = await steadily_held(pool)
    release.set()
    responses = await asyncio.gather(*gets)
    assert held == 0, f"{held} connections held while {concurrent} signed GETs wait for a key"
    assert {r.status_code for r in responses} == {401}


@pytest.mark.parametrize("length", [2048, 2049])
async def test_id_length__at_most_2048(instances: Factory, length: int) -> None:
    a, b = await instances("a", ["alice"]), await instances("b", ["bob"])
    bob = b.actor_url("bob")
    prefix = f"{bob}#likes/"
    activity = _like(bob, 0, a.actor_url("alice"))
    activity["id"] = prefix + "x" * (length - len(prefix))
    response = await _post(a.fed.urls.shared_inbox(), activity, await _key(b, "bob"))
    assert response.status_code == (202 if length == 2048 else 400)


async def test_inbox__a_sender_gone_before_its_body_arrives_gets_no_answer_and_nothing_is_stored(
    instances: Factory,
) -> None:
    a = await instances("a", ["alice"])
    sent: list[Any] = []
    messages = iter([{"type": "http.request", "body": b'{"id": ', "more_body": True}, {"type": "http.disconnect"}])

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/inbox", "raw_path": b"/inbox", "query_string": b"", "root_path": "",
        "headers": [(b"host", a.base.split("//", 1)[1].encode()), (b"content-type", ap.ACTIVITY_JSON.encode())],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    await a.app(scope, receive, send)
    assert sent == [], "nobody is left to answer"
    async with a.sessions() as session:
        assert (await session.scalars(select(InboundActivity))).all() == []
