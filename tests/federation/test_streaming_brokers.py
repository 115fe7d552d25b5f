"""Streaming across web processes: two app instances on one database share events through the real Redis
on 127.0.0.1:6379 (each event claimed once from the outbox, published once, delivered by both), and a slow
client is cut off without holding up the others (MD:/methods/streaming/)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
import redis.asyncio as redis
from sqlalchemy import select

from fediserver.app import create_app
from fediserver.mastodon.streaming.broker import CHANNEL, RedisBroker, StreamEvent
from fediserver.models import StreamEventRow
from tests.federation.conftest import Instance, free_port, serve, start_instance
from tests.federation.test_inbox_postgres import postgres_url  # noqa: F401 (the fixture)
from tests.federation.test_mastodon_streaming import user_token
from tests.federation.test_streaming_sources import frame, frames, listen, silent

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _redis_up() -> bool:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return bool(await client.ping())
    except (OSError, redis.ConnectionError):
        return False
    finally:
        await client.aclose()


async def _messages(pubsub: Any, within: float) -> list[bytes]:
    """What the channel carried over ``within`` seconds (the subscribe confirmation left out)."""
    out: list[bytes] = []
    deadline = asyncio.get_running_loop().time() + within
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        message = await pubsub.get_message(timeout=left)
        if message is not None and message.get("type") == "message":
            out.append(message["data"])
    return out


@pytest.fixture
async def two_web_processes(tmp_path: Path) -> AsyncIterator[tuple[Instance, str]]:
    """One instance served by two apps (two "web processes") on one database, streaming over Redis."""
    if not await _redis_up():
        pytest.fail("Redis is not running on 127.0.0.1:6379")
    first = await start_instance(
        tmp_path, ["alice"], api={"streaming_backend": "redis", "streaming_redis_url": REDIS_URL}
    )
    port = free_port()
    server, task = await serve(create_app(first.settings), port)
    try:
        yield first, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await first.stop()


async def test_redis__two_web_processes_share_each_event_once(two_web_processes: tuple[Instance, str]) -> None:
    first, second_base = two_web_processes
    token = await user_token(first, "alice")
    watcher = redis.Redis.from_url(REDIS_URL)
    pubsub: Any = watcher.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(f"{CHANNEL}:{first.settings.instance.domain}")
    on_first = await listen(first, token, "user", "public")
    on_second = await listen(second_base, token, "user", "public")
    try:
        async with httpx.AsyncClient(base_url=first.base, headers={"Authorization": f"Bearer {token}"}) as http:
            posted = (await http.post("/api/v1/statuses", data={"status": "to every process"})).json()
        for ws in (on_first, on_second):
            got = await frames(ws, 2)
            assert set(got) == {"user", "public"}
            assert json.loads(got["user"]["payload"])["id"] == posted["id"]
            assert await silent(ws, 1.0)
        # Two relays tailed the outbox; one claimed the row, and Redis carried it once.
        messages = await _messages(pubsub, 2.0)
        assert [StreamEvent.from_json(m).keys for m in messages] == [("public", "public:local", "user:1")]
        async with first.sessions() as session:
            rows = list(await session.scalars(select(StreamEventRow)))
        assert [(r.event, r.relayed) for r in rows] == [("update", True)]
    finally:
        await on_first.close()
        await on_second.close()
        await pubsub.aclose()
        await watcher.aclose()


async def test_redis__slow_client_cut_off_others_keep_receiving() -> None:
    if not await _redis_up():
        pytest.fail("Redis is not running on 127.0.0.1:6379")
    broker = RedisBroker(queue_size=2, url=REDIS_URL, channel=f"{CHANNEL}:test-slow-{id(object())}")
    await broker.start()
    try:
        slow, fast = broker.subscribe(), broker.subscribe()
        slow.keys["public"] = ["public"]
        fast.keys["public"] = ["public"]
        received: list[int] = []
        for i in range(5):
            await broker.publish(StreamEvent("update", i, ("public",)))
            item = await asyncio.wait_for(fast.next(), 5)
            assert item is not None
            received.append(item[0].subject_id)
        assert received == [0, 1, 2, 3, 4]
        assert slow.cut_off.is_set()
        assert slow not in broker.subscriptions
        assert await slow.next() is None
        # The twin: a client that keeps up is never cut off.
        assert not fast.cut_off.is_set()
        assert fast in broker.subscriptions
    finally:
        await broker.stop()


async def test_redis__malformed_message_ignored_then_next_delivered() -> None:
    if not await _redis_up():
        pytest.fail("Redis is not running on 127.0.0.1:6379")
    channel = f"{CHANNEL}:test-malformed-{id(object())}"
    broker = RedisBroker(queue_size=10, url=REDIS_URL, channel=channel)
    await broker.start()
    sender = redis.Redis.from_url(REDIS_URL)
    try:
        sub = broker.subscribe()
        sub.keys["public"] = ["public"]
        await sender.publish(channel, '{"event": "update", "subject": 1, "keys": "public"}')
        await sender.publish(channel, '{"event": "update", "subject": 2, "keys": ["public"]}')
        item = await asyncio.wait_for(sub.next(), 5)
        assert item is not None
        assert item[0].subject_id == 2
    finally:
        await sender.aclose()
        await broker.stop()


Factory = Callable[..., Awaitable[Instance]]


async def test_memory__clients_of_another_app_on_the_same_database_get_events(instances: Factory) -> None:
    """The embedded default: each web process tails the outbox, so a second one still hears of everything."""
    first = await instances("a", ["alice"])
    token = await user_token(first, "alice")
    port = free_port()
    server, task = await serve(create_app(first.settings), port)
    try:
        ws = await listen(f"http://127.0.0.1:{port}", token, "user")
        async with httpx.AsyncClient(base_url=first.base, headers={"Authorization": f"Bearer {token}"}) as http:
            posted = (await http.post("/api/v1/statuses", data={"status": "seen next door"})).json()
        got = await frame(ws)
        assert json.loads(got["payload"])["id"] == posted["id"]
        await ws.close()
    finally:
        server.should_exit = True
        await task


@pytest.mark.postgres
async def test_postgresql__two_web_processes_share_events_and_oversized_ones_go_by_row(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811 (the imported fixture)
) -> None:
    first = await start_instance(
        tmp_path, ["alice"], database={"url": postgres_url}, api={"streaming_backend": "postgresql"}
    )
    port = free_port()
    server, task = await serve(create_app(first.settings), port)
    watcher = await asyncpg.connect("postgresql://" + postgres_url.removeprefix("postgresql+asyncpg://"))
    heard: list[str] = []
    await watcher.add_listener(CHANNEL, lambda *args: heard.append(args[-1]))
    try:
        token = await user_token(first, "alice")
        on_first = await listen(first, token, "public")
        on_second = await listen(f"http://127.0.0.1:{port}", token, "public")
        async with httpx.AsyncClient(base_url=first.base, headers={"Authorization": f"Bearer {token}"}) as http:
            posted = (await http.post("/api/v1/statuses", data={"status": "over NOTIFY"})).json()
        for ws in (on_first, on_second):
            assert json.loads((await frame(ws))["payload"])["id"] == posted["id"]
        assert [StreamEvent.from_json(h).keys for h in heard] == [("public", "public:local", "user:1")]

        # An event for thousands of followers is bigger than NOTIFY allows: it travels as its row id.
        async with first.sessions() as session:
            row = await session.scalar(select(StreamEventRow))
            assert row is not None
            many = ["public", *(f"user:{i}" for i in range(1000, 3000))]
            session.add(StreamEventRow(event="status.update", subject_id=row.subject_id, keys=many))
            await session.commit()
        for ws in (on_first, on_second):
            got = await frame(ws)
            assert got["event"] == "status.update"
            assert json.loads(got["payload"])["id"] == posted["id"]
            assert await silent(ws, 1.0)
        assert len(heard) == 2
        assert json.loads(heard[1]).keys() == {"ref"}
        await on_first.close()
        await on_second.close()
    finally:
        await watcher.close()
        server.should_exit = True
        await task
        await first.stop()


def test_stream_event__unreblog_time_survives_the_shared_brokers_json() -> None:
    """An undone boost's id is made of its time and row id; the time must cross NOTIFY and Redis intact."""
    undone = StreamEvent("unreblog", 5, ("user:1",), 7, datetime(2026, 11, 30, 19, 0, 0, 123000, tzinfo=UTC))
    assert StreamEvent.from_json(undone.to_json()) == undone
    plain = StreamEvent("update", 5, ("public",), 8)
    assert "at" not in json.loads(plain.to_json())
    assert StreamEvent.from_json(plain.to_json()).subject_at is None
