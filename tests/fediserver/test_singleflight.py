"""``SingleFlight``: callers that come while a key's work runs share it; nothing is kept after it ends."""

from __future__ import annotations

import asyncio

import pytest

from fediserver.singleflight import SingleFlight


async def test_concurrent_callers__share_one_run() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    runs: list[str] = []
    both_started = asyncio.Event()
    release = asyncio.Event()

    async def work(key: str) -> int:
        runs.append(key)
        if len(runs) == 2:
            both_started.set()
        await release.wait()
        return len(runs)

    waiting = [asyncio.ensure_future(flight.run("a", lambda: work("a"))) for _ in range(10)]
    other = asyncio.ensure_future(flight.run("b", lambda: work("b")))
    await asyncio.wait_for(both_started.wait(), 5)
    assert flight.running("a")
    release.set()
    assert await asyncio.gather(*waiting) == [2] * 10
    assert await other == 2
    assert sorted(runs) == ["a", "b"]
    assert not flight.running("a")
    assert await flight.run("a", lambda: work("a")) == 3  # ended: the next caller runs it again


async def test_an_exception__reaches_every_caller_and_is_not_kept() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise ValueError("no such row")

    outcomes = await asyncio.gather(*(flight.run("k", failing) for _ in range(5)), return_exceptions=True)
    assert calls == 1
    assert all(isinstance(outcome, ValueError) for outcome in outcomes)
    with pytest.raises(ValueError, match="no such row"):
        await flight.run("k", failing)
    assert calls == 2


async def test_a_cancelled_caller__does_not_cancel_the_run_for_the_others() -> None:
    flight: SingleFlight[str, str] = SingleFlight()
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    leaving = asyncio.ensure_future(flight.run("k", work))
    staying = asyncio.ensure_future(flight.run("k", work))
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await staying == "done"
    assert leaving.cancelled()
