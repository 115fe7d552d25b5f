"""Hostile inbound requests: each must be refused with a reason, and its honest twin accepted."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

import activitypub as ap
from fediserver.models import InboundActivity

Factory = Callable[..., Awaitable[Any]]


async def _key(instance: Any, username: str) -> tuple[str, ap.PrivateKey]:
    async with instance.sessions() as session:
        actor = await instance.user(session, username)
        return instance.fed.urls.actor_key(username), ap.load_private_key(actor.private_key_pem)


def _create(actor: str, note_id: str, attributed: str | None = None, activity_id: str | None = None) -> dict[str, Any]:
    return {
        "@context": ap.AS_CONTEXT,
        "id": activity_id or f"{note_id}/activity",
        "type": "Create",
        "actor": actor,
        "to": [ap.PUBLIC],
        "object": {
            "id": note_id,
            "type": "Note",
            "attributedTo": attributed or actor,
            "content": "<p>hi</p>",
            "to": [ap.PUBLIC],
        },
    }


async def _post(
    target: Any,
    activity: dict[str, Any] | bytes,
    key: tuple[str, ap.PrivateKey] | None,
    *,
    now: datetime | None = None,
    signed_body: bytes | None = None,
    scheme: str = "cavage",
) -> httpx.Response:
    body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
    url = target.fed.urls.shared_inbox()
    headers = {"content-type": ap.ACTIVITY_JSON}
    if key is not None:
        sign = ap.sign_request if scheme == "cavage" else ap.sign_request_rfc9421
        headers = sign(
            method="POST", url=url, headers=headers, body=signed_body if signed_body is not None else body,
            key_id=key[0], private_key=key[1], now=now or datetime.now(UTC),
        )  # fmt: skip
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=body, headers=headers)


async def _stored(instance: Any) -> int:
    async with instance.sessions() as session:
        return await session.scalar(select(func.count()).select_from(InboundActivity)) or 0


@pytest.fixture
async def pair(instances: Factory) -> tuple[Any, Any]:
    return await instances("a", ["alice"]), await instances("b", ["bob", "carol"])


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
async def test_honest_create__is_accepted_once(pair: tuple[Any, Any], scheme: str) -> None:
    a, b = pair
    bob = b.actor_url("bob")
    activity = _create(bob, f"{b.base}/notes/n1")
    first = await _post(a, activity, await _key(b, "bob"), scheme=scheme)
    again = await _post(a, activity, await _key(b, "bob"), scheme=scheme)
    assert (first.status_code, again.status_code) == (202, 202)
    assert await _stored(a) == 1, "a replayed activity id is stored once"


async def test_unsigned__is_401(pair: tuple[Any, Any]) -> None:
    a, b = pair
    response = await _post(a, _create(b.actor_url("bob"), f"{b.base}/notes/n1"), None)
    assert response.status_code == 401
    assert "not signed" in response.json()["error"]
    assert await _stored(a) == 0


async def test_forged_actor__is_401(pair: tuple[Any, Any]) -> None:
    a, b = pair
    # Signed by bob, but claims to come from carol on the same server.
    activity = _create(b.actor_url("carol"), f"{b.base}/notes/n2")
    response = await _post(a, activity, await _key(b, "bob"))
    assert response.status_code == 401
    assert "is not the signer" in response.json()["error"]


async def test_key_from_another_host__is_401(pair: tuple[Any, Any]) -> None:
    a, b = pair
    # bob's key (host B) signing an activity whose actor lives on host A.
    activity = _create(a.actor_url("alice"), f"{a.base}/notes/forged")
    response = await _post(a, activity, await _key(b, "bob"))
    assert response.status_code == 401
    assert await _stored(a) == 0


@pytest.mark.parametrize("skew", [timedelta(hours=-2), timedelta(hours=2)])
async def test_stale_or_future_date__is_401(pair: tuple[Any, Any], skew: timedelta) -> None:
    a, b = pair
    activity = _create(b.actor_url("bob"), f"{b.base}/notes/n3")
    response = await _post(a, activity, await _key(b, "bob"), now=datetime.now(UTC) + skew)
    assert response.status_code == 401
    assert "window" in response.json()["error"] or "date" in response.json()["error"].lower()


async def test_digest_mismatch__is_401(pair: tuple[Any, Any]) -> None:
    a, b = pair
    activity = _create(b.actor_url("bob"), f"{b.base}/notes/n4")
    signed_for = json.dumps({**activity, "id": activity["id"] + "x"}).encode()
    response = await _post(a, activity, await _key(b, "bob"), signed_body=signed_for)
    assert response.status_code == 401
    assert "digest" in response.json()["error"].lower()


async def test_oversize_body__is_413_before_parsing(pair: tuple[Any, Any]) -> None:
    a, b = pair
    body = b"{" + b" " * (a.settings.server.max_request_bytes + 1) + b"}"
    response = await _post(a, body, await _key(b, "bob"))
    assert response.status_code == 413


async def test_cross_origin_object__is_400(pair: tuple[Any, Any]) -> None:
    a, b = pair
    activity = _create(b.actor_url("bob"), f"{a.base}/notes/not-yours")
    response = await _post(a, activity, await _key(b, "bob"))
    assert response.status_code == 400
    assert "origin" in response.json()["error"]


async def test_attributed_to_someone_else__is_400(pair: tuple[Any, Any]) -> None:
    a, b = pair
    activity = _create(b.actor_url("bob"), f"{b.base}/notes/n5", attributed=b.actor_url("carol"))
    response = await _post(a, activity, await _key(b, "bob"))
    assert response.status_code == 400
    assert "belongs to" in response.json()["error"]


async def test_private_address_key__is_refused_without_the_dev_switch(instances: Factory) -> None:
    # An instance in production mode may not fetch keys from loopback or private networks.
    b = await instances("b", ["bob"])
    strict = await instances("strict", ["alice"], federation={"allow_private_addresses": False})
    response = await _post(strict, _create(b.actor_url("bob"), f"{b.base}/notes/n6"), await _key(b, "bob"))
    assert response.status_code == 401
    assert "non-public address" in response.json()["error"]
    with pytest.raises(ap.UnsafeURLError):
        await strict.fed.guard.check("http://169.254.169.254/latest/meta-data")
    with pytest.raises(ap.UnsafeURLError):
        await strict.fed.guard.check("http://[::ffff:10.0.0.1]/x")


async def test_blocked_domain__is_403(instances: Factory) -> None:
    b = await instances("b", ["bob"])
    guarded = await instances("g", ["alice"], federation={"blocked_domains": ["127.0.0.1"]})
    response = await _post(guarded, _create(b.actor_url("bob"), f"{b.base}/notes/n7"), await _key(b, "bob"))
    assert response.status_code == 403
    assert await _stored(guarded) == 0


async def test_wrong_content_type__is_415(pair: tuple[Any, Any]) -> None:
    a, _ = pair
    async with httpx.AsyncClient() as http:
        response = await http.post(a.fed.urls.shared_inbox(), content=b"{}", headers={"content-type": "text/plain"})
    assert response.status_code == 415


async def test_key_rotation__is_picked_up_by_one_refetch(pair: tuple[Any, Any]) -> None:
    a, b = pair
    bob = b.actor_url("bob")
    assert (await _post(a, _create(bob, f"{b.base}/notes/r1"), await _key(b, "bob"))).status_code == 202
    # bob's server rotates his key; A still has the old one cached.
    async with b.sessions() as session:
        actor = await b.user(session, "bob")
        new_key = ap.generate_rsa_key()
        actor.private_key_pem = ap.private_key_pem(new_key)
        actor.public_key_pem = ap.public_key_pem(new_key)
        await session.commit()
    rotated = (b.fed.urls.actor_key("bob"), new_key)
    assert (await _post(a, _create(bob, f"{b.base}/notes/r2"), rotated)).status_code == 202
    # A forged signature right after is refused without another refetch of bob (rate-limited).
    forged = (b.fed.urls.actor_key("bob"), ap.generate_rsa_key())
    response = await _post(a, _create(bob, f"{b.base}/notes/r3"), forged)
    assert response.status_code == 401
    assert await _stored(a) == 2
