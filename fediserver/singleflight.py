"""``SingleFlight``: concurrent callers asking for the same thing share one run of the work.

A busy inbox verifies a hundred requests at once. When a cached value they all need expires (a signer's
key, the domain blocklist, a recipient's id), each of them would otherwise open a session for the same
row, queue for the pool's connections and make it open overflow ones: the p99 spikes of the personal
inbox in docs/benchmarks.md. With ``SingleFlight`` the first caller starts the work as a task of its own
and the others await that task.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """At most one run of the work per key at a time; callers that come while it runs get its outcome.

    The work runs as its own task, shielded from the callers: one caller cancelled (its client left)
    neither cancels the work nor the others' wait. Its exception reaches every caller. Nothing is kept
    once the run ends; caching the value is the caller's business.
    """

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(work())
            self._running[key] = running
            running.add_done_callback(functools.partial(self._ended, key))
        return await asyncio.shield(running)

    def running(self, key: K) -> bool:
        return key in self._running

    def _ended(self, key: K, run: asyncio.Future[V]) -> None:
        if self._running.get(key) is run:
            del self._running[key]
        if not run.cancelled():
            run.exception()  # retrieved here as well: every caller may have been cancelled meanwhile
