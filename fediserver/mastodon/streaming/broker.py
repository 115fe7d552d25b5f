"""Fan-out of stream events to every subscribed client, in this process or across processes.

Events come from the ``stream_events`` outbox (``relay.Relay``). ``MemoryBroker`` delivers within one
process: each web process relays the whole outbox to its own clients. The shared brokers are fed by one
relaying process per event (the relay claims it) and deliver in every web process behind a proxy:
``PostgresBroker`` with ``NOTIFY``/``LISTEN`` on the instance's database, ``RedisBroker`` with Redis
pub/sub. Each subscription has a bounded queue: a client that falls ``queue_size`` events behind is cut
off (its stream ends) rather than making the publisher wait, so a slow client never holds up others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fediserver.config import Settings

log = logging.getLogger("fediserver.streaming")
CHANNEL = "fediserver_stream"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; a bigger event is sent by its outbox row id.
NOTIFY_LIMIT = 7900


@dataclass(frozen=True)
class StreamEvent:
    """``event`` about ``subject_id`` (a note; a boost for ``reblog`` and ``unreblog``; a notification for
    ``notification``) for the stream keys in ``keys``; ``row_id`` is its ``stream_events`` row (0 when it
    has none); ``subject_at`` when an ``unreblog``'s boost was made (``models.streams``)."""

    event: str
    subject_id: int
    keys: tuple[str, ...]
    row_id: int = 0
    subject_at: datetime | None = None

    def to_json(self) -> str:
        data = {"event": self.event, "subject": self.subject_id, "keys": self.keys, "row": self.row_id}
        return json.dumps({**data, "at": self.subject_at.isoformat()} if self.subject_at is not None else data)

    @classmethod
    def from_json(cls, text: str | bytes) -> StreamEvent:
        data: dict[str, Any] = json.loads(text)
        keys = data["keys"]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise TypeError("keys: expected a list of strings")
        at = data.get("at")
        return cls(
            str(data["event"]),
            int(data["subject"]),
            tuple(keys),
            int(data.get("row", 0)),
            datetime.fromisoformat(str(at)) if at is not None else None,
        )


@dataclass(eq=False)
class Subscription:
    """One client's subscriptions: stream key → the ``stream`` array its events are labelled with."""

    queue: asyncio.Queue[tuple[StreamEvent, list[str]]]
    keys: dict[str, list[str]] = field(default_factory=dict)
    cut_off: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: StreamEvent) -> bool:
        """Queue the event once per subscribed stream it is for (Mastodon sends one frame per stream, and
        masto.js files each under its ``stream``); False when the client is too far behind (then cut off)."""
        for key in event.keys:
            if key in self.keys:
                try:
                    self.queue.put_nowait((event, self.keys[key]))
                except asyncio.QueueFull:
                    self.cut_off.set()
                    return False
        return True

    async def next(self) -> tuple[StreamEvent, list[str]] | None:
        """The next event, or None once cut off."""
        if self.cut_off.is_set():
            return None
        getter = asyncio.ensure_future(self.queue.get())
        stopper = asyncio.ensure_future(self.cut_off.wait())
        done, pending = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return getter.result() if getter in done else None


class MemoryBroker:
    """Delivers to this process's clients; ``shared`` brokers reach every web process."""

    shared = False

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.subscriptions: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        sub = Subscription(asyncio.Queue(self.queue_size))
        self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.discard(sub)

    def deliver(self, event: StreamEvent) -> None:
        for sub in list(self.subscriptions):
            if not sub.offer(event):
                log.info("streaming client cut off: %d events behind", self.queue_size)
                self.subscriptions.discard(sub)

    async def publish(self, event: StreamEvent) -> None:
        """Send the event to every process's clients (this process only, for the memory broker)."""
        self.deliver(event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class PostgresBroker(MemoryBroker):
    """LISTEN/NOTIFY on the instance's PostgreSQL database (one listening connection per process)."""

    shared = True

    def __init__(self, queue_size: int, dsn: str) -> None:
        super().__init__(queue_size)
        self.dsn = dsn
        self.connection: Any = None
        self.sender: Any = None
        self.pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        self.connection = await asyncpg.connect(self.dsn)
        self.sender = await asyncpg.connect(self.dsn)
        await self.connection.add_listener(CHANNEL, self._received)

    def _received(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            if isinstance(data, dict) and set(data) == {"ref"}:
                task = asyncio.get_running_loop().create_task(self._load(int(data["ref"])))
                self.pending.add(task)
                task.add_done_callback(self.pending.discard)
                return
            self.deliver(StreamEvent.from_json(payload))
        except (ValueError, KeyError, TypeError):
            log.warning("malformed stream notification ignored")

    async def _load(self, row_id: int) -> None:
        row = await self.connection.fetchrow(
            "SELECT event, subject_id, keys, subject_at FROM stream_events WHERE id = $1", row_id
        )
        if row is not None:
            keys = json.loads(row["keys"]) if isinstance(row["keys"], str) else row["keys"]
            self.deliver(StreamEvent(row["event"], row["subject_id"], tuple(keys), row_id, row["subject_at"]))

    async def publish(self, event: StreamEvent) -> None:
        text = event.to_json()
        if len(text.encode()) >= NOTIFY_LIMIT:
            text = json.dumps({"ref": event.row_id})
        await self.sender.execute("SELECT pg_notify($1, $2)", CHANNEL, text)

    async def stop(self) -> None:
        for task in list(self.pending):
            task.cancel()
        for conn in (self.connection, self.sender):
            if conn is not None:
                await conn.close()


class RedisBroker(MemoryBroker):
    """Redis pub/sub: every web process subscribes to ``channel``; a relay publishes each event once."""

    shared = True

    def __init__(self, queue_size: int, url: str, channel: str) -> None:
        super().__init__(queue_size)
        self.url = url
        self.channel = channel
        self.client: Any = None
        self.pubsub: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import redis.asyncio as redis

        self.client = redis.Redis.from_url(self.url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await self.pubsub.subscribe(self.channel)
        self.reader = asyncio.create_task(self._read(), name="redis-stream-reader")

    async def _read(self) -> None:
        from redis.exceptions import RedisError

        while True:
            try:
                message = await self.pubsub.get_message(timeout=5.0)
            except (RedisError, OSError) as exc:
                # Redis restarting: keep trying; clients miss what was sent meanwhile, as with Mastodon.
                log.warning("redis stream subscription lost: %s", exc)
                await asyncio.sleep(1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                self.deliver(StreamEvent.from_json(message["data"]))
            except (ValueError, KeyError, TypeError):
                log.warning("malformed stream message ignored")

    async def publish(self, event: StreamEvent) -> None:
        await self.client.publish(self.channel, event.to_json())

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        if self.pubsub is not None:
            await self.pubsub.aclose()
        if self.client is not None:
            await self.client.aclose()


Broker = MemoryBroker


def build_broker(settings: Settings) -> Broker:
    size = settings.api.streaming_queue_size
    if settings.api.streaming_backend == "postgresql":
        url = settings.database_url
        return PostgresBroker(size, "postgresql://" + url.removeprefix("postgresql+asyncpg://"))
    if settings.api.streaming_backend == "redis":
        # One Redis may serve several instances: the channel names this one.
        return RedisBroker(size, settings.api.streaming_redis_url, f"{CHANNEL}:{settings.instance.domain}")
    return MemoryBroker(size)
