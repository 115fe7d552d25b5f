"""Wake a queue's worker as soon as a job is enqueued, instead of at its next poll (issue 13).

``ring`` is called in the enqueueing transaction; the ring is heard only once that transaction commits,
so a worker never wakes to a row it cannot see yet, and a rolled-back job rings nothing.

- PostgreSQL: ``pg_notify`` in the transaction (PostgreSQL delivers notifications at commit, to every
  listening session, on any machine); the worker ``LISTEN``s on a connection of its own.
- SQLite (one machine): after the commit, a datagram to a Linux abstract UNIX socket whose name is derived
  from the database file's path; the worker process binds it. No file is created, and any process on the
  machine that writes the same database (``fediserver serve``, the CLI) rings the same bell.

Polling stays the fallback: a ring nobody hears (no worker running, a dropped ``LISTEN`` connection, an
in-memory database, a platform without abstract sockets, a second worker on the same SQLite file) costs
at most one ``worker.poll_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import sys
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger("fediserver.doorbell")

GENERATION = "fediserver_generation"
ASSIST = "fediserver_assist"
# The federation worker's queues, for ``fediserver worker`` processes: activities accepted by an inbox, and
# deliveries. Two bells, so that a worker knows which queue has work (``Worker``); the in-process worker of
# ``fediserver serve`` is woken directly.
INBOX = "fediserver_inbox"
FEDERATION = "fediserver_federation"
CHANNELS = frozenset({GENERATION, ASSIST, INBOX, FEDERATION})


def _sqlite_address(url: URL, channel: str) -> str | None:
    """The abstract socket name for ``channel`` of the SQLite file at ``url``; None where there is none."""
    if not sys.platform.startswith("linux") or not url.database or url.database == ":memory:":
        return None
    path = os.path.realpath(url.database)
    digest = hashlib.sha256(path.encode()).hexdigest()[:32]
    # A leading NUL names a socket in Linux's abstract namespace: no file, no path-length limit on the db.
    return f"\0fediserver-{channel}-{digest}"


def _send(address: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        # Refused: no worker listens (it polls when it starts). Would block: rings are queued, it is awake.
        with contextlib.suppress(OSError):
            sock.sendto(b"\x01", address)


async def ring(session: AsyncSession, channel: str) -> None:
    """Wake ``channel``'s worker once ``session``'s transaction commits (not at all if it rolls back)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    bind = session.bind
    if bind is None:
        return
    if bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})
        return
    if bind.dialect.name != "sqlite":
        return
    engine = bind if isinstance(bind, AsyncEngine) else bind.engine
    address = _sqlite_address(engine.url, channel)
    if address is None:
        return
    # The addresses wait in the session until its transaction ends; one pair of listeners per session (the
    # inbox writer rings in every batch of a session it keeps while requests keep coming).
    sync = session.sync_session
    sync.info.setdefault(_PENDING, set()).add(address)
    if not event.contains(sync, "after_commit", _ring_pending):
        event.listen(sync, "after_commit", _ring_pending)
        event.listen(sync, "after_rollback", _drop_pending)


_PENDING = "fediserver.doorbell.pending"


def _ring_pending(session: Session) -> None:
    for address in session.info.pop(_PENDING, ()):
        _send(address)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


class Doorbell:
    """What a worker process hears: one ``asyncio.Event`` per channel, set when that channel rings, and
    ``any``, set when any of them rings, with ``take_rung`` telling which did.

    A worker clears its event before it looks for jobs and waits on it (with its poll interval as the
    timeout) when it finds none, so a ring that arrives while it looks is not lost. ``heard_at`` keeps when
    each channel last rang (``time.monotonic``), for a worker that gives way to other processes' requests.
    """

    def __init__(self, channels: Iterable[str]) -> None:
        self.events = {channel: asyncio.Event() for channel in channels}
        self.any = asyncio.Event()
        self.heard_at: dict[str, float] = {}
        self._rung: set[str] = set()
        self._sockets: list[socket.socket] = []
        self._connection: AsyncConnection | None = None

    def event(self, channel: str) -> asyncio.Event:
        return self.events[channel]

    def take_rung(self) -> frozenset[str]:
        """The channels that rang since the last call."""
        rung, self._rung = frozenset(self._rung), set()
        return rung

    def _heard(self, channel: str) -> None:
        found = self.events.get(channel)
        if found is not None:
            found.set()
            self.heard_at[channel] = time.monotonic()
            self._rung.add(channel)
            self.any.set()

    @classmethod
    async def open(cls, engine: AsyncEngine, channels: Iterable[str]) -> Doorbell:
        """Start listening on ``engine``'s database; never fails (a bell that cannot listen stays silent)."""
        bell = cls(channels)
        try:
            if engine.dialect.name == "postgresql":
                await bell._listen_postgresql(engine)
            elif engine.dialect.name == "sqlite":
                bell._listen_sqlite(engine.url)
        except Exception:
            log.warning("cannot listen for enqueued jobs; polling only", exc_info=True)
        return bell

    async def _listen_postgresql(self, engine: AsyncEngine) -> None:
        # A connection of its own for the worker's lifetime: LISTEN belongs to a session, not a transaction.
        self._connection = await engine.connect()
        raw = await self._connection.get_raw_connection()
        driver: Any = raw.driver_connection
        for channel in self.events:
            await driver.add_listener(channel, self._on_notify)

    def _on_notify(self, _connection: Any, _pid: int, channel: str, _payload: str) -> None:
        self._heard(channel)

    def _listen_sqlite(self, url: URL) -> None:
        loop = asyncio.get_running_loop()
        for channel in self.events:
            address = _sqlite_address(url, channel)
            if address is None:
                return
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(address)
            except OSError:
                # Another worker holds it (a second GPU worker on one SQLite file): that one is woken.
                sock.close()
                log.warning("another process listens for this queue; polling only", extra={"channel": channel})
                continue
            sock.setblocking(False)
            self._sockets.append(sock)
            loop.add_reader(sock.fileno(), self._drain, sock, channel)

    def _drain(self, sock: socket.socket, channel: str) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while sock.recv(16):
                pass
        self._heard(channel)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets = []
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None


async def idle(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Wait until ``stop``, ``wake`` (when given) or ``seconds``, whichever comes first."""
    waits = {asyncio.ensure_future(stop.wait())}
    if wake is not None:
        waits.add(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
