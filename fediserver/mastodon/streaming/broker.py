"""Fan-out of stream events to every subscribed client, in this process or across processes.

``MemoryBroker`` delivers within one process (the embedded default). ``PostgresBroker`` sends each event
with ``NOTIFY`` and delivers what ``LISTEN`` receives, so the clients of every web process behind a proxy
get it. Each subscription has a bounded queue: a client that falls ``queue_size`` events behind is cut
off (its stream ends) rather than making the publisher wait, so a slow client never holds up others.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fediserver.config import Settings

log = logging.getLogger("fediserver.streaming")
CHANNEL = "fediserver_stream"


@dataclass(frozen=True)
class StreamEvent:
    """``event`` (update, delete, status.update) about a status, for the stream keys in ``keys``."""

    event: str
    status_id: str
    note_id: int
    keys: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {"event": self.event, "status_id": self.status_id, "note_id": self.note_id, "keys": self.keys}
        )

    @classmethod
    def from_json(cls, text: str) -> StreamEvent:
        data: dict[str, Any] = json.loads(text)
        return cls(str(data["event"]), str(data["status_id"]), int(data["note_id"]), tuple(data["keys"]))


@dataclass(eq=False)
class Subscription:
    """One client's subscriptions: stream key → the ``stream`` array its events are labelled with."""

    queue: asyncio.Queue[tuple[StreamEvent, list[str]]]
    keys: dict[str, list[str]] = field(default_factory=dict)
    cut_off: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: StreamEvent) -> bool:
        """Queue the event if subscribed; False when the client is too far behind (and is then cut off)."""
        for key in event.keys:
            if key in self.keys:
                try:
                    self.queue.put_nowait((event, self.keys[key]))
                except asyncio.QueueFull:
                    self.cut_off.set()
                    return False
                return True
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
        self.deliver(event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class PostgresBroker(MemoryBroker):
    """LISTEN/NOTIFY on the instance's PostgreSQL database (one listening connection per process)."""

    def __init__(self, queue_size: int, dsn: str) -> None:
        super().__init__(queue_size)
        self.dsn = dsn
        self.connection: Any = None

    async def start(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        self.connection = await asyncpg.connect(self.dsn)
        await self.connection.add_listener(CHANNEL, self._received)

    def _received(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self.deliver(StreamEvent.from_json(payload))
        except (ValueError, KeyError, TypeError):
            log.warning("malformed stream notification ignored")

    async def publish(self, event: StreamEvent) -> None:
        await self.connection.execute("SELECT pg_notify($1, $2)", CHANNEL, event.to_json())

    async def stop(self) -> None:
        if self.connection is not None:
            await self.connection.close()


Broker = MemoryBroker


def build_broker(settings: Settings) -> Broker:
    size = settings.api.streaming_queue_size
    if settings.api.streaming_backend == "postgresql":
        url = settings.database_url
        return PostgresBroker(size, "postgresql://" + url.removeprefix("postgresql+asyncpg://"))
    return MemoryBroker(size)
