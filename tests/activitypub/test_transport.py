"""PinnedTransport connects to the address it vetted, keeps the host name for Host and TLS (federation.md §5)."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from activitypub.client import ActivityPubClient
from activitypub.errors import FetchError, UnsafeURLError
from activitypub.guard import OutboundGuard, Resolver
from activitypub.transport import PinnedTransport
from activitypub.window import system_clock

PUBLIC = "93.184.216.34"


@dataclass
class Loopback:
    """A one-response-per-connection HTTP server on 127.0.0.1 that records each request's head."""

    port: int = 0
    heads: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head.decode("latin-1"))
        body = b'{"ok": true}'
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n")
        writer.write(b"content-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()


async def _serve(ssl_context: ssl.SSLContext | None = None) -> tuple[Loopback, asyncio.Server]:
    loopback = Loopback()
    server = await asyncio.start_server(loopback.handle, "127.0.0.1", 0, ssl=ssl_context)
    loopback.port = server.sockets[0].getsockname()[1]
    return loopback, server


@pytest.fixture
async def loopback() -> AsyncIterator[Loopback]:
    served, server = await _serve()
    async with server:
        yield served


def _answers(*rounds: list[str]) -> tuple[list[str], Resolver]:
    """A resolver that gives ``rounds[i]`` on its i-th call (the last one from then on), and its call log."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return rounds[min(len(calls) - 1, len(rounds) - 1)]

    return calls, resolve


@pytest.mark.parametrize("allow_private", [False, True])
async def test_rebinding__public_then_private_is_refused_at_connect(loopback: Loopback, allow_private: bool) -> None:
    # The guard's look-up sees a public address; the connection's sees loopback. Refused, unless the
    # transport allows private addresses (the twin: the refusal is the connect-time address check).
    calls, resolve = _answers([PUBLIC], ["127.0.0.1"])
    url = f"http://rebind.example:{loopback.port}/users/a"
    async with httpx.AsyncClient(transport=PinnedTransport(resolve, allow_private=allow_private)) as http:
        client = ActivityPubClient(http=http, clock=system_clock, guard=OutboundGuard(resolver=resolve))
        if allow_private:
            with pytest.raises(FetchError, match="not ActivityStreams"):
                await client.fetch(url)
        else:
            with pytest.raises(UnsafeURLError, match=r"non-public address 127\.0\.0\.1"):
                await client.fetch(url)
    assert calls == ["rebind.example", "rebind.example"]
    assert len(loopback.heads) == int(allow_private)


async def test_connects_to_the_resolved_address_with_the_host_name(loopback: Loopback) -> None:
    # pinned.test is not in any DNS: only the injected resolver can send this request to 127.0.0.1.
    calls, resolve = _answers(["127.0.0.1"])
    async with httpx.AsyncClient(transport=PinnedTransport(resolve, allow_private=True)) as http:
        response = await http.get(f"http://pinned.test:{loopback.port}/hello")
    assert response.status_code == 200
    assert calls == ["pinned.test"]
    [head] = loopback.heads
    assert head.startswith("GET /hello HTTP/1.1\r\n")
    assert f"host: pinned.test:{loopback.port}\r\n" in head.lower()


@pytest.mark.parametrize("answer", [["127.0.0.1"], [PUBLIC, "10.0.0.7"], ["::ffff:127.0.0.1"]])
async def test_any_private_address__is_refused_without_connecting(loopback: Loopback, answer: list[str]) -> None:
    _, resolve = _answers(answer)
    async with httpx.AsyncClient(transport=PinnedTransport(resolve)) as http:
        with pytest.raises(UnsafeURLError):
            await http.get(f"http://name.example:{loopback.port}/")
    assert loopback.heads == []


async def test_ip_literal__is_vetted_too(loopback: Loopback) -> None:
    _, resolve = _answers([PUBLIC])
    async with httpx.AsyncClient(transport=PinnedTransport(resolve)) as http:
        with pytest.raises(UnsafeURLError, match=r"127\.0\.0\.1"):
            await http.get(f"http://127.0.0.1:{loopback.port}/")
    assert loopback.heads == []


def _certificate(tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.mark.parametrize(("served_name", "works"), [("pinned.test", True), ("other.test", False)])
async def test_tls__sni_and_certificate_are_for_the_host_name(tmp_path: Path, served_name: str, works: bool) -> None:
    cert, key = _certificate(tmp_path, served_name)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    client_context = ssl.create_default_context(cafile=str(cert))
    _, resolve = _answers(["127.0.0.1"])
    served, server = await _serve(server_context)
    async with (
        server,
        httpx.AsyncClient(transport=PinnedTransport(resolve, allow_private=True, verify=client_context)) as http,
    ):
        url = f"https://pinned.test:{served.port}/tls"
        if works:
            assert (await http.get(url)).json() == {"ok": True}
        else:
            with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|hostname"):
                await http.get(url)
    assert names == ["pinned.test"]
