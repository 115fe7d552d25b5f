"""The server's outbound HTTP client connects only to vetted addresses, whatever the caller checked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import activitypub as ap
from fediserver.app import build_http_client
from fediserver.config import Settings, parse_settings


def _settings(tmp_path: Path, allow_private: bool) -> Settings:
    raw = {
        "instance": {"domain": "social.test", "secret_key": "outbound-client-secret-0123456789abcdef"},
        "federation": {"allow_private_addresses": allow_private},
    }
    return parse_settings(raw, {}, tmp_path)


@pytest.mark.parametrize("allow_private", [False, True])
async def test_build_http_client__refuses_private_addresses_at_connect(tmp_path: Path, allow_private: bool) -> None:
    hits: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, build_http_client(_settings(tmp_path, allow_private)) as http:
        # No guard is consulted here: the refusal is the client's own, at connect time.
        if allow_private:
            assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 204
        else:
            with pytest.raises(ap.UnsafeURLError):
                await http.get(f"http://127.0.0.1:{port}/")
    assert len(hits) == int(allow_private)
