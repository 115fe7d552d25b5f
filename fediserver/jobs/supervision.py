"""Keep the in-process job worker running: restart it with backoff if it ever ends unasked.

``Worker.run`` has its own failure boundary; this is the outer one, for what still escapes it (a bug in
the loop itself), so that the inbox never goes on answering 202 to a queue nobody works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

log = logging.getLogger("fediserver.supervision")

TaskState = Literal["starting", "running", "restarting", "stopped", "dead"]


class SupervisedTask:
    """Runs ``target(stop)`` until ``stop`` is set; an exception or an early return restarts it after
    ``initial_backoff`` seconds, doubling up to ``max_backoff``."""

    def __init__(
        self,
        target: Callable[[asyncio.Event], Awaitable[None]],
        stop: asyncio.Event,
        *,
        name: str,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        self.target = target
        self.stop = stop
        self.name = name
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.restarts = 0
        self.last_error: str | None = None
        self._state: TaskState = "starting"
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> TaskState:
        """``dead`` if the supervisor itself ended without being asked to (it was cancelled)."""
        if self._task is not None and self._task.done() and not self.stop.is_set():
            return "dead"
        return self._state

    @property
    def healthy(self) -> bool:
        return self.state in ("starting", "running")

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"supervise-{self.name}")

    async def join(self) -> None:
        """Wait for the task to end (set ``stop`` first)."""
        if self._task is not None:
            await self._task

    async def _supervise(self) -> None:
        backoff = self.initial_backoff
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            self._state = "running"
            started = loop.time()
            crash: Exception | None = None
            try:
                await self.target(self.stop)
            except Exception as exc:
                crash = exc
            if crash is None and self.stop.is_set():
                break
            if loop.time() - started > self.max_backoff:
                backoff = self.initial_backoff  # it had been running well: a fresh fault, not a crash loop
            self.restarts += 1
            self._state = "restarting"
            self.last_error = f"{type(crash).__name__}: {crash}" if crash else "returned before it was asked to stop"
            log.error(
                "task ended unexpectedly; restarting",
                exc_info=crash,
                extra={"task": self.name, "error": self.last_error, "in_seconds": backoff},
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, self.max_backoff)
        self._state = "stopped"
