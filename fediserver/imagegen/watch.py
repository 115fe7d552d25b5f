"""Generation jobs watched by open event streams: one query a beat for every watcher of a web process.

The GPU worker is another process, so a web process learns of a job's progress from the database. Each
event stream (``GET /api/v1/generations/{token}/events``, what the web UI listens to) polled its own row
every 200 ms: a finished image reached the page up to 200 ms after it was stored, and every open stream
cost five queries a second. Now one task per process reads the state of every watched job in one query
each ``WATCH_INTERVAL`` while any stream is open, and wakes the streams whose job changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.models import GenerationJob

log = logging.getLogger("fediserver.generations")

WATCH_INTERVAL = 0.05
# After a failed read, the next one waits this long (the streams still look by themselves meanwhile).
RETRY_SECONDS = 1.0


def _states() -> Select[str, str, int, int]:
    return select(
        GenerationJob.token, GenerationJob.state, GenerationJob.progress_step, GenerationJob.progress_total
    ).where(GenerationJob.token.in_(bindparam("tokens", expanding=True)))


class JobWatch:
    """Per web process: ``watch(token)`` gives an event set whenever that job's state or progress changes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float = WATCH_INTERVAL) -> None:
        self.sessions = sessions
        self.interval = interval
        self._events: dict[str, set[asyncio.Event]] = {}
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._task: asyncio.Task[None] | None = None
        self._statement = _states()

    @contextlib.contextmanager
    def watch(self, token: str) -> Iterator[asyncio.Event]:
        """While inside, the event is set at each change of the job seen by a read (the first read included)."""
        changed = asyncio.Event()
        self._events.setdefault(token, set()).add(changed)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="generation-watch")
        try:
            yield changed
        finally:
            watchers = self._events.get(token)
            if watchers is not None:
                watchers.discard(changed)
                if not watchers:
                    del self._events[token]
                    self._seen.pop(token, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while self._events:
            try:
                await self.read_once()
            except Exception:
                log.exception("reading watched generation jobs failed; retrying")
                await asyncio.sleep(RETRY_SECONDS)
                continue
            await asyncio.sleep(self.interval)

    async def read_once(self) -> None:
        """Read every watched job's state in one query and wake the watchers of those that changed."""
        tokens = list(self._events)
        if not tokens:
            return
        async with self.sessions() as session:
            rows = (await session.execute(self._statement, {"tokens": tokens})).all()
        for token, *values in rows:
            state = tuple(values)
            if self._seen.get(token) != state:
                self._seen[token] = state
                for changed in self._events.get(token, ()):
                    changed.set()
