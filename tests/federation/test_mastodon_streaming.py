"""The streaming API on a live server: Mastodon.py over SSE, a WebSocket client as masto.js uses it, and the
broker cutting off a slow client without holding up the others."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import websockets
from mastodon import Mastodon, StreamListener
from sqlalchemy import select

from fediserver.mastodon.streaming.broker import MemoryBroker, StreamEvent
from fediserver.models import User
from fediserver.oauth import grants
from fediserver.oauth.grants import OOB
from fediserver.oauth.scopes import Scopes
from tests.federation.conftest import Instance


async def user_token(server: Instance, username: str, scopes: str = "read write") -> str:
    async with server.sessions() as session:
        actor = await server.user(session, username)
        user = await session.scalar(select(User).where(User.actor_id == actor.id))
        parsed = Scopes.parse(scopes)
        app, _ = await grants.register_app(session, "stream test", [OOB], parsed, None)
        issued = await grants.issue_token(session, app, user, parsed)
        await session.commit()
        return issued.access_token


class Collect(StreamListener):  # type: ignore[misc, unused-ignore]
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.deletes: list[Any] = []
        self.got = threading.Event()

    def on_update(self, status: dict[str, Any]) -> None:
        self.updates.append(status)
        self.got.set()

    def on_delete(self, status_id: Any) -> None:
        self.deletes.append(status_id)
        self.got.set()


async def test_mastodon_py__stream_user_gets_update_and_delete(instances: Callable[..., Awaitable[Instance]]) -> None:
    server = await instances("a", ["alice"])
    token = await user_token(server, "alice")
    api = Mastodon(access_token=token, api_base_url=server.base)
    listener = Collect()
    handle = await asyncio.to_thread(api.stream_user, listener, run_async=True, reconnect_async=False)
    try:
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=server.base, headers={"Authorization": f"Bearer {token}"}) as http:
            posted = (await http.post("/api/v1/statuses", data={"status": "streamed #Cats"})).json()
            assert await asyncio.to_thread(listener.got.wait, 10)
            listener.got.clear()
            await http.delete(f"/api/v1/statuses/{posted['id']}")
            assert await asyncio.to_thread(listener.got.wait, 10)
    finally:
        await asyncio.to_thread(handle.close)
    assert [s["id"] for s in listener.updates] == [posted["id"]]
    assert listener.updates[0]["content"] == posted["content"]
    assert 'class="mention hashtag" rel="tag">#<span>Cats</span></a>' in posted["content"]
    # Mastodon.py json.loads every data line, so the bare id becomes a number.
    assert [str(i) for i in listener.deletes] == [posted["id"]]


async def test_websocket__protocol_token_echoed_streams_labelled_and_payload_a_string(
    instances: Callable[..., Awaitable[Instance]],
) -> None:
    server = await instances("a", ["alice"])
    token = await user_token(server, "alice")
    ws_url = server.base.replace("http://", "ws://") + "/api/v1/streaming"
    async with websockets.connect(ws_url, subprotocols=[websockets.Subprotocol(token)]) as ws:
        assert ws.subprotocol == token
        await ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "Cats"}))
        await ws.send(json.dumps({"type": "subscribe", "stream": "nonsense"}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert error["status"] == 400
        async with httpx.AsyncClient(base_url=server.base, headers={"Authorization": f"Bearer {token}"}) as http:
            posted = (await http.post("/api/v1/statuses", data={"status": "hello #cats"})).json()
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["stream"] == ["hashtag", "Cats"]
            assert frame["event"] == "update"
            assert isinstance(frame["payload"], str)
            assert json.loads(frame["payload"])["id"] == posted["id"]
            await http.post("/api/v1/statuses", data={"status": "no tag here"})
            await http.delete(f"/api/v1/statuses/{posted['id']}")
            deleted = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert deleted == {"stream": ["hashtag", "Cats"], "event": "delete", "payload": posted["id"]}


async def test_websocket__bad_token_is_refused(instances: Callable[..., Awaitable[Instance]]) -> None:
    server = await instances("a", ["alice"])
    ws_url = server.base.replace("http://", "ws://") + "/api/v1/streaming?stream=public&access_token=nope"
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(ws_url):
            pass


async def test_broker__slow_client_cut_off_others_keep_receiving() -> None:
    broker = MemoryBroker(queue_size=2)
    slow, fast = broker.subscribe(), broker.subscribe()
    slow.keys["public"] = ["public"]
    fast.keys["public"] = ["public"]
    received: list[int] = []
    for i in range(5):
        await broker.publish(StreamEvent("update", i, ("public",)))
        item = await fast.next()
        assert item is not None
        received.append(item[0].subject_id)
    assert received == [0, 1, 2, 3, 4]
    assert slow.cut_off.is_set()
    assert slow not in broker.subscriptions
    assert await slow.next() is None
    other = broker.subscribe()
    other.keys["hashtag:x"] = ["hashtag", "x"]
    await broker.publish(StreamEvent("update", 9, ("public",)))
    assert other.queue.empty()
