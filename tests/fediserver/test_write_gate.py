"""The SQLite write gate across processes (``db.WriteGate``): sibling web processes (``server.processes``)
take turns with each other as writers in one process do, and a turn's holder sees a waiter elsewhere."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fediserver.db import WriteGate

# Another process: takes a turn at the gate of argv[1], says so, and holds it until told to let go.
HOLDER = """
import asyncio, sys
from fediserver.db import WriteGate

async def main():
    gate = WriteGate(sys.argv[1])
    async with gate.turn():
        print("held", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    print("released", flush=True)

asyncio.run(main())
"""


@pytest.fixture
async def other_process(tmp_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(tmp_path / "db"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    yield child
    if child.returncode is None:
        child.kill()
    await child.wait()


async def _line(child: asyncio.subprocess.Process) -> str:
    assert child.stdout is not None
    return (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip()


async def test_write_gate__a_turn_waits_for_another_process_and_starts_when_it_ends(
    tmp_path: Path, other_process: asyncio.subprocess.Process
) -> None:
    assert await _line(other_process) == "held"
    gate = WriteGate(str(tmp_path / "db"))
    entered = asyncio.Event()

    async def write() -> None:
        async with gate.turn():
            entered.set()

    writer = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not entered.is_set()
    assert other_process.stdin is not None
    other_process.stdin.write(b"go\n")
    await asyncio.wait_for(writer, 5)
    assert await _line(other_process) == "released"


async def test_write_gate__its_holder_sees_a_writer_waiting_in_another_process(tmp_path: Path) -> None:
    gate = WriteGate(str(tmp_path / "db"))
    async with gate.turn():
        assert not gate.wanted
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOLDER, str(tmp_path / "db"), stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            for _ in range(300):
                if gate.wanted:
                    break
                await asyncio.sleep(0.05)
            assert gate.wanted
        except BaseException:
            child.kill()
            raise
    # Once this turn ends, the other process's begins.
    assert await _line(child) == "held"
    assert child.stdin is not None
    child.stdin.write(b"go\n")
    assert await _line(child) == "released"
    assert await child.wait() == 0
    assert not gate.wanted


async def test_write_gate__a_cancelled_wait_leaves_no_turn_taken(tmp_path: Path) -> None:
    # Two gates on one file conflict as two processes' do (each has its own open file).
    holder, waiter, later = (WriteGate(str(tmp_path / "db")) for _ in range(3))
    async with holder.turn():
        waiting = asyncio.create_task(waiter.turn().__aenter__())
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    # The cancelled waiter's thread takes the turn when the holder lets go, and gives it straight back.
    async with asyncio.timeout(5):
        async with later.turn():
            pass
        async with waiter.turn():
            pass
