"""The signing client against `httpx.MockTransport`: signatures, double-knock, fetch rules, caps."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from activitypub.client import ActivityPubClient, Scheme, Signer
from activitypub.errors import FetchError, RemoteStatusError, UnsafeURLError
from activitypub.guard import OutboundGuard
from activitypub.httpsig import parse_signature_header, verify_request
from activitypub.keys import load_private_key, load_public_key
from activitypub.rfc9421 import verify_request_rfc9421
from activitypub.vocab import ACTIVITY_JSON, AS2_ACCEPT

HERE = Path(__file__).parent
PRIVATE = load_private_key((HERE / "keys" / "test-key-rsa.pem").read_bytes())
PUBLIC = load_public_key((HERE / "keys" / "test-key-rsa.pub.pem").read_bytes())
SIGNER = Signer("https://local.example/actor#main-key", PRIVATE)
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


class TickingClock:
    """Advances one minute per reading so each signature carries a distinct Date."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


async def _resolve_public(host: str, port: int) -> list[str]:
    return {"internal.example": ["10.0.0.5"]}.get(host, ["93.184.216.34"])


def make_client(handler: Handler, **kwargs: Any) -> tuple[ActivityPubClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    options: dict[str, Any] = {"signer": SIGNER, "guard": OutboundGuard(resolver=_resolve_public)}
    options.update(kwargs)
    return ActivityPubClient(http, clock=TickingClock(), **options), seen


def as2(document: dict[str, Any], status: int = 200, content_type: str = ACTIVITY_JSON) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": content_type}, content=json.dumps(document).encode())


def _verify_cavage(request: httpx.Request, now: datetime) -> None:
    target = request.url.raw_path.decode()
    verify_request(
        method=request.method,
        target=target,
        headers=dict(request.headers),
        body=request.content or None,
        public_key=PUBLIC,
        now=now,
    )


async def test_post__cavage_signature_verifies_and_covers_mastodon_headers() -> None:
    client, seen = make_client(lambda r: httpx.Response(202))
    await client.post("https://remote.example/inbox", {"type": "Follow"})
    (request,) = seen
    assert request.headers["content-type"] == ACTIVITY_JSON
    parsed = parse_signature_header(request.headers["signature"])
    assert parsed.headers == ("(request-target)", "host", "date", "digest", "content-type")
    _verify_cavage(request, START + timedelta(minutes=1))


async def test_post__double_knock_retries_other_scheme_with_fresh_date_and_remembers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202 if "signature-input" in request.headers else 401)

    client, seen = make_client(handler)
    await client.post("https://remote.example/inbox", b'{"type": "Like"}')
    assert [("signature-input" in r.headers) for r in seen] == [False, True]
    verify_request_rfc9421(
        method="POST",
        url=str(seen[1].url),
        headers=dict(seen[1].headers),
        body=seen[1].content,
        public_key=PUBLIC,
        now=START + timedelta(minutes=2),
    )
    assert seen[0].headers["date"] != seen[1].headers.get("date", "")
    assert client.scheme_for("https://remote.example/other") is Scheme.RFC9421
    await client.post("https://remote.example/inbox", b"{}")
    assert "signature-input" in seen[2].headers
    assert len(seen) == 3


async def test_post__each_attempt_is_resigned_with_a_new_date() -> None:
    client, seen = make_client(lambda r: httpx.Response(503, headers={"retry-after": "30"}))
    for _ in range(2):
        with pytest.raises(RemoteStatusError) as info:
            await client.post("https://remote.example/inbox", b"{}")
        assert info.value.status == 503
        assert info.value.retry_after == "30"
    assert seen[0].headers["date"] != seen[1].headers["date"]
    assert seen[0].headers["signature"] != seen[1].headers["signature"]


async def test_post__both_schemes_refused_raises_with_status() -> None:
    client, seen = make_client(lambda r: httpx.Response(401))
    with pytest.raises(RemoteStatusError, match="401"):
        await client.post("https://remote.example/inbox", b"{}")
    assert len(seen) == 2


async def test_fetch__signed_get_with_query_and_as2_accept() -> None:
    url = "https://remote.example/users/bob/outbox?page=2"
    client, seen = make_client(lambda r: as2({"id": url, "type": "OrderedCollectionPage"}))
    document = await client.fetch(url)
    assert document["type"] == "OrderedCollectionPage"
    (request,) = seen
    assert request.headers["accept"] == AS2_ACCEPT
    assert parse_signature_header(request.headers["signature"]).headers == (
        "(request-target)",
        "host",
        "date",
    )
    _verify_cavage(request, START + timedelta(minutes=1))
    assert request.extensions["timeout"] == {"connect": 5.0, "read": 10.0, "write": 10.0, "pool": 10.0}


@pytest.mark.parametrize("content_type", ["application/json", "text/html", "application/ld+json"])
async def test_fetch__refuses_non_as2_content_type(content_type: str) -> None:
    url = "https://remote.example/users/bob"
    client, _ = make_client(lambda r: as2({"id": url}, content_type=content_type))
    with pytest.raises(FetchError, match="not ActivityStreams"):
        await client.fetch(url)


async def test_fetch__accepts_ld_json_with_as2_profile() -> None:
    url = "https://remote.example/users/bob"
    ld = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    client, _ = make_client(lambda r: as2({"id": url}, content_type=ld))
    assert (await client.fetch(url))["id"] == url


async def test_fetch__id_mismatch_refetches_by_id_once() -> None:
    canonical = "https://remote.example/users/bob"

    def handler(request: httpx.Request) -> httpx.Response:
        return as2({"id": canonical, "type": "Person"})

    client, seen = make_client(handler)
    assert (await client.fetch("https://remote.example/@bob"))["id"] == canonical
    assert [str(r.url) for r in seen] == ["https://remote.example/@bob", canonical]


async def test_fetch__id_that_never_matches_fails() -> None:
    client, _ = make_client(lambda r: as2({"id": str(r.url) + "x"}))
    with pytest.raises(FetchError, match="whose id is"):
        await client.fetch("https://remote.example/a")


async def test_fetch__follows_three_redirects_not_four() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        hop = int(request.url.path.strip("/") or 0)
        if hop < limit:
            return httpx.Response(302, headers={"location": f"/{hop + 1}"})
        return as2({"id": str(request.url)})

    limit = 3
    client, seen = make_client(handler)
    assert (await client.fetch("https://remote.example/0"))["id"] == "https://remote.example/3"
    assert len(seen) == 4
    limit = 4
    client, _ = make_client(handler)
    with pytest.raises(FetchError, match="more than 3 redirects"):
        await client.fetch("https://remote.example/0")


async def test_fetch__redirect_to_private_address_refused() -> None:
    client, seen = make_client(lambda r: httpx.Response(301, headers={"location": "https://internal.example/x"}))
    with pytest.raises(UnsafeURLError, match=r"10\.0\.0\.5"):
        await client.fetch("https://remote.example/a")
    assert len(seen) == 1


async def test_fetch__body_over_cap_refused() -> None:
    url = "https://remote.example/big"
    big = {"id": url, "padding": "x" * 1_100_000}
    client, _ = make_client(lambda r: as2(big))
    with pytest.raises(FetchError, match="cap"):
        await client.fetch(url)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    def streamed(request: httpx.Request) -> httpx.Response:
        # No Content-Length: the cap must hold while streaming.
        return httpx.Response(200, headers={"content-type": ACTIVITY_JSON}, content=chunks())

    client, _ = make_client(streamed)
    with pytest.raises(FetchError, match="exceeds"):
        await client.fetch(url)


async def test_fetch__status_errors_carry_status() -> None:
    client, _ = make_client(lambda r: httpx.Response(410))
    with pytest.raises(RemoteStatusError) as info:
        await client.fetch("https://remote.example/gone")
    assert info.value.status == 410


async def test_fetch__unsigned_when_no_signer() -> None:
    url = "https://remote.example/actor"
    client, seen = make_client(lambda r: as2({"id": url}), signer=None)
    await client.fetch(url)
    assert "signature" not in seen[0].headers


async def test_fetch__transport_error_is_fetch_error() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    client, _ = make_client(boom)
    with pytest.raises(FetchError, match="ConnectTimeout"):
        await client.fetch("https://remote.example/slow")


async def test_fetch__double_knock_on_get_and_remembered_per_host() -> None:
    url = "https://strict.example/users/carol"

    def handler(request: httpx.Request) -> httpx.Response:
        if "signature-input" not in request.headers:
            return httpx.Response(401)
        return as2({"id": url})

    client, seen = make_client(handler)
    await client.fetch(url)
    assert ["signature-input" in r.headers for r in seen] == [False, True]
    assert client.scheme_for(url) is Scheme.RFC9421
    assert client.scheme_for("https://other.example/") is Scheme.CAVAGE
    await client.fetch(url)
    assert ["signature-input" in r.headers for r in seen] == [False, True, True]
