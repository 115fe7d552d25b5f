"""Engine and session factory, built from settings at start-up (never at import time)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Connection, Engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import ConnectionPoolEntry

from fediserver import sqlite_driver
from fediserver.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
# A PostgreSQL connection that waited in the pool this long is tested before it is handed out: a restart of
# the server, or a proxy's idle timeout, closes connections the pool still holds. Connections in use are
# not: SQLAlchemy's ``pool_pre_ping`` tested every checkout with three statements (BEGIN, an empty query,
# ROLLBACK), a twelfth of a busy inbox worker's time (docs/benchmarks.md). A connection that breaks within
# this time fails its next statement once, and the pool then replaces every connection older than it.
PING_AFTER_IDLE_SECONDS = 5.0
IDLE_SINCE = "fediserver.idle_since"
WRITE_LOCKED = "fediserver.db.write_locked"


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers and the one writer proceed together; the busy timeout makes a second writer wait
    # instead of failing with "database is locked"; foreign keys are off in SQLite unless asked for.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(
    url: str, *, echo: bool = False, pool_size: int = 20, ping_after_idle: float = PING_AFTER_IDLE_SECONDS
) -> AsyncEngine:
    """An async engine for a ``sqlite+aiosqlite`` or ``postgresql+asyncpg`` URL, keeping up to ``pool_size``
    connections (``database.pool_size``; the pool's default of 5 made the worker's lanes open and close a
    PostgreSQL connection for most transactions). On PostgreSQL a connection idle in the pool for
    ``ping_after_idle`` seconds or more is tested before use (``PING_AFTER_IDLE_SECONDS``)."""
    if url.startswith("sqlite"):
        # An in-memory database is one connection (SQLAlchemy's StaticPool), with no size to set.
        sized = {} if make_url(url).database in (None, "", ":memory:") else {"pool_size": pool_size}
        engine = create_async_engine(
            url,
            echo=echo,
            module=sqlite_driver.dbapi(),
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **sized,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, echo=echo, pool_size=pool_size)
    # Rows inserted together without RETURNING (a batch's notes, notifications and stream events; the inbox's
    # group commit) go as one multi-row INSERT, as SQLAlchemy does for psycopg2, instead of asyncpg's
    # executemany, which PostgreSQL runs as one statement per row: a statement's executor, constraint checks
    # and statement triggers (``account_stats``, migration 0032) once per row (docs/benchmarks.md).
    engine.dialect.use_insertmanyvalues_wo_returning = True
    _ping_idle_connections(engine, ping_after_idle)
    return engine


def _ping_idle_connections(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout when it has been idle ``idle_seconds``; a connection that does not
    answer is replaced (the pool's ``DisconnectionError`` protocol: it retries with a new one)."""
    dialect = engine.dialect

    def idle_from_now(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(IDLE_SINCE, 0.0) < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"a pooled connection did not answer: {exc}") from exc

    pool = engine.sync_engine.pool
    event.listen(pool, "connect", idle_from_now)
    event.listen(pool, "checkin", idle_from_now)
    event.listen(pool, "checkout", checkout)


def engine_from_settings(settings: Settings) -> AsyncEngine:
    if settings.database_url.startswith("sqlite+aiosqlite:///"):
        path = settings.database_url.removeprefix("sqlite+aiosqlite:///")
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.database_url, echo=settings.database.echo, pool_size=settings.database.pool_size)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class WriteGate:
    """Where SQLite writers take turns, in order, instead of in SQLite's busy handler.

    A writer that finds the database locked sleeps in the busy handler (1, 2, 5, 10, 15, 20, 25... ms) and
    looks again; waiting on an ``asyncio.Lock`` in the same process, it starts as soon as the other ends.
    ``wanted`` tells a long writer (the worker's batch) that another is waiting, so that it commits early.
    Only writers that take their turn here are ordered by it; the others still meet in the busy handler.

    Across processes (``server.processes``: sibling web processes write the same file), a turn also holds
    an exclusive ``flock`` on a file beside the database (``<database>-gate``), and a writer waiting for
    another process's turn holds a shared ``flock`` on ``<database>-want``, which is how the holder's
    ``wanted`` sees it. Two processes' writers that met in the busy handler instead waited up to half a
    second each (docs/benchmarks.md).
    """

    def __init__(self, path: str | None = None) -> None:
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._gate_fd: int | None = None
        self._want_fd: int | None = None
        if path is not None:
            self._gate_fd = os.open(f"{path}-gate", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._want_fd = os.open(f"{path}-want", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            # With the engine it belongs to (``write_gate``), not before: closing releases the locks.
            weakref.finalize(self, os.close, self._gate_fd)
            weakref.finalize(self, os.close, self._want_fd)

    @property
    def wanted(self) -> bool:
        if self._waiting > 0:
            return True
        if self._want_fd is None:
            return False
        try:
            fcntl.flock(self._want_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._want_fd, fcntl.LOCK_UN)
        return False

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        released_later = False
        try:
            if self._gate_fd is not None:
                released_later = await self._take_file_lock(self._gate_fd)
            try:
                yield
            finally:
                if self._gate_fd is not None:
                    fcntl.flock(self._gate_fd, fcntl.LOCK_UN)
        finally:
            if not released_later:
                self._lock.release()

    async def _take_file_lock(self, gate_fd: int) -> bool:
        """Take the cross-process turn; True only when cancelled while a thread still waits for it (it then
        gives the turn and this process's lock back once it has it, so that no writer of this process runs
        meanwhile on a lock that the thread would release)."""
        try:
            fcntl.flock(gate_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            pass
        # Blocked in the kernel, in a thread: woken as the other process lets go, before that process's next
        # writer can take the turn again (a waiter that looked again every millisecond from a loaded event
        # loop looked every 20-50 ms and lost the race for seconds on end).
        waiting = asyncio.get_running_loop().run_in_executor(None, self._wait_for_turn, gate_fd)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            waiting.add_done_callback(functools.partial(self._give_back, gate_fd))
            raise
        return False

    def _wait_for_turn(self, gate_fd: int) -> None:
        want_fd = self._want_fd
        assert want_fd is not None
        # Shared, and never held by a turn's holder: only a holder's exclusive probe (``wanted``) can hold it
        # up, for a moment.
        fcntl.flock(want_fd, fcntl.LOCK_SH)
        try:
            fcntl.flock(gate_fd, fcntl.LOCK_EX)
        finally:
            fcntl.flock(want_fd, fcntl.LOCK_UN)

    def _give_back(self, gate_fd: int, waited: asyncio.Future[None]) -> None:
        if not waited.cancelled() and waited.exception() is None:
            fcntl.flock(gate_fd, fcntl.LOCK_UN)
        self._lock.release()


_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def write_gate(session: AsyncSession) -> WriteGate | None:
    """The write gate of the session's SQLite database in this process; None for other databases."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    if engine.dialect.name != "sqlite":
        return None
    gate = _GATES.get(engine)
    if gate is None:
        database = engine.url.database
        on_disk = database not in (None, "", ":memory:") and not str(database).startswith("file:")
        gate = _GATES[engine] = WriteGate(os.path.realpath(str(database)) if on_disk else None)
    return gate


async def begin_writing(session: AsyncSession) -> None:
    """Start the session's transaction as a writer. On SQLite, ``BEGIN IMMEDIATE`` takes the write lock now,
    waiting in the busy handler if it must: a transaction that read first and wrote later could not upgrade
    once another connection had written meanwhile. Elsewhere the transaction begins as usual."""
    if session.get_bind().dialect.name != "sqlite":
        return
    await session.execute(text("BEGIN IMMEDIATE"))
    sync = session.sync_session
    sync.info[WRITE_LOCKED] = True
    if not event.contains(sync, "after_transaction_end", _unlocked):
        event.listen(sync, "after_transaction_end", _unlocked)


def holds_write_lock(session: AsyncSession) -> bool:
    """Whether this SQLite session's transaction began with ``begin_writing``: no other connection can
    write until it ends."""
    return bool(session.sync_session.info.get(WRITE_LOCKED))


async def reading_alone(session: AsyncSession) -> None:
    """Before a session's first statement: on PostgreSQL its statements run without a transaction around
    them, each in its own, as PostgreSQL runs a statement sent outside one. For a session that reads once,
    that spares the BEGIN and ROLLBACK round trips: two of a worker pass's three for loading its claimed rows
    (docs/benchmarks.md). The connection's isolation level is set back when it returns to the pool (a flag
    in the driver, no round trip). Elsewhere the session begins as usual."""
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _unlocked(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(WRITE_LOCKED, None)
