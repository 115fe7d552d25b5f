"""The relay: from the ``stream_events`` outbox to the broker, in each web process.

The domain writes events in the transaction of their change, from any process (``domain.streams``).
With the in-process broker each web process reads every new row and delivers it to its own clients;
with a shared broker (PostgreSQL, Redis) the relays of all web processes *claim* rows (``relayed``
false → true, one claimer per row) and publish each claimed event once for every process to deliver.
A claim commits only after the publish, so an event whose publish failed is tried again.

A commit in this process wakes the relay at once (SQLAlchemy ``after_commit``); rows written by other
processes (the GPU worker, the CLI) are found by polling every ``streaming_poll_interval`` seconds.
Rows older than ``RETENTION`` are deleted: streaming never replays missed events (Mastodon's doesn't).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from fediserver.domain.streams import WROTE
from fediserver.mastodon.streaming.broker import Broker, StreamEvent
from fediserver.models import StreamEventRow, utcnow

log = logging.getLogger("fediserver.streaming")
RETENTION = timedelta(minutes=10)
BATCH = 500
PRUNE_EVERY = 60
LOOKBACK = 100
COLUMNS = (
    StreamEventRow.id,
    StreamEventRow.event,
    StreamEventRow.subject_id,
    StreamEventRow.keys,
    StreamEventRow.subject_at,
)


class Relay:
    """One web process's reader of the outbox, feeding ``broker`` (module docstring)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], broker: Broker, poll_interval: float) -> None:
        self.sessions = sessions
        self.broker = broker
        self.poll_interval = poll_interval
        self.wakeup = asyncio.Event()
        self.last_id = 0
        self.floor = 0
        self.seen: deque[int] = deque(maxlen=4 * LOOKBACK)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _before_flush(self, session: Session, _context: Any, _instances: Any) -> None:
        if any(isinstance(obj, StreamEventRow) for obj in session.new):
            session.info[WROTE] = True

    def _after_commit(self, session: Session) -> None:
        # Not popped: every relay in the process (tests run several apps) must see it; a session that
        # committed events once wakes relays on its later commits too, which costs one empty read.
        if session.info.get(WROTE) and self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.wakeup.set)

    async def start(self) -> None:
        """Begin at the newest row (clients hear of what happens from now on) and watch commits."""
        self.loop = asyncio.get_running_loop()
        async with self.sessions() as session:
            self.last_id = int(await session.scalar(select(func.coalesce(func.max(StreamEventRow.id), 0))) or 0)
        self.floor = self.last_id
        event.listen(Session, "before_flush", self._before_flush)
        event.listen(Session, "after_commit", self._after_commit)

    def stop(self) -> None:
        """Stop watching commits (at shutdown, after ``run`` has ended)."""
        for name, fn in (("before_flush", self._before_flush), ("after_commit", self._after_commit)):
            if event.contains(Session, name, fn):
                event.remove(Session, name, fn)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set."""
        rounds = 0
        while not stop.is_set():
            self.wakeup.clear()
            try:
                await self.relay_once()
                rounds += 1
                if rounds % PRUNE_EVERY == 0:
                    await self.prune()
            except Exception:
                log.exception("stream relay failed; retrying")
            waiter = asyncio.ensure_future(self.wakeup.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()

    async def relay_once(self) -> int:
        """Deliver (or claim and publish) the rows not yet relayed; returns how many."""
        async with self.sessions() as session:
            if self.broker.shared:
                ids = list(
                    await session.scalars(
                        select(StreamEventRow.id)
                        .where(StreamEventRow.relayed.is_(False))
                        .order_by(StreamEventRow.id)
                        .limit(BATCH)
                    )
                )
                if not ids:
                    return 0
                # The WHERE is checked again under the row lock: of two relays, one claims each row.
                claimed = await session.execute(
                    update(StreamEventRow)
                    .where(StreamEventRow.id.in_(ids), StreamEventRow.relayed.is_(False))
                    .values(relayed=True)
                    .returning(*COLUMNS)
                )
                rows = sorted(claimed.all())
                for row_id, name, subject, keys, subject_at in rows:
                    await self.broker.publish(StreamEvent(name, subject, tuple(keys), row_id, subject_at))
                await session.commit()
                return len(rows)
            # PostgreSQL may commit id 5 after id 6: look back a little and skip what was delivered.
            found = await session.execute(
                select(*COLUMNS)
                .where(StreamEventRow.id > self.last_id - LOOKBACK)
                .order_by(StreamEventRow.id)
                .limit(BATCH + LOOKBACK)
            )
            rows = [row for row in found.all() if row[0] not in self.seen and row[0] > self.floor]
        for row_id, name, subject, keys, subject_at in rows:
            self.broker.deliver(StreamEvent(name, subject, tuple(keys), row_id, subject_at))
            self.seen.append(row_id)
            self.last_id = max(self.last_id, row_id)
        return len(rows)

    async def prune(self) -> None:
        async with self.sessions() as session:
            await session.execute(delete(StreamEventRow).where(StreamEventRow.created_at < utcnow() - RETENTION))
            await session.commit()
