"""``fediserver serve`` with ``server.processes = 2``, as a real process tree on loopback: the sibling answers
on the primary's port, its inbox wakes the primary's worker, and it never outlives the primary; nor does the
GPU worker child."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import activitypub as ap
from tests.federation.conftest import eventually, free_port, signed_like

Factory = Callable[..., Awaitable[Any]]
BIN = Path(sys.executable).parent


def _children_of(pid: int, marker: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if parent == pid and marker in cmdline:
            found.append(int(entry.name))
    return found


def _siblings_of(pid: int) -> list[int]:
    return _children_of(pid, b"--socket-fd")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _serve(tmp_path: Path, processes: int, generation: bool) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """An instance made with the CLI and served; the worker polls only every 30 s."""
    port = free_port()
    env = {
        **os.environ,
        "FEDISERVER_CONFIG": str(tmp_path / "fediserver.toml"),
        "FEDISERVER_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "true",
        "FEDISERVER_WORKER_POLL_INTERVAL": "30",
        "FEDISERVER_GENERATION_ENABLED": str(generation).lower(),
        # The GPU worker loads a model only for its first job; none is submitted here.
        "FEDISERVER_GENERATION_MODEL": "tiny",
    }
    fediserver = str(BIN / "fediserver")
    for argv in (
        ["init", "--domain", f"127.0.0.1:{port}", "--scheme", "http", "--data-dir", str(tmp_path / "data")],
        ["migrate"],
        ["user", "create", "alice"],
    ):
        subprocess.run([fediserver, *argv], env=env, check=True, capture_output=True, timeout=60)
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [fediserver, "serve", "--processes", str(processes)], env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield server, port, tmp_path / "data" / "fediserver.db"
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(20)
        log.close()
        # Whatever is left of this instance, orphans included (a test that failed to end them).
        config = str(tmp_path / "fediserver.toml").encode()
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and config in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                continue


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """Two web processes, no GPU worker."""
    yield from _serve(tmp_path, processes=2, generation=False)


@pytest.fixture
def served_with_gpu_worker(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """One web process and its GPU worker child."""
    yield from _serve(tmp_path, processes=1, generation=True)


def _health(port: int) -> str | None:
    try:
        # A connection of its own each time: whichever process accepts it answers.
        response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    except httpx.TransportError:
        return None
    worker: str = response.json()["worker"]
    return worker


def _wait_for_both(server: subprocess.Popen[str], port: int) -> int:
    """Both processes up; the sibling's pid."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "serve exited"
        siblings = _siblings_of(server.pid)
        if _health(port) == "running" and len(siblings) == 1:
            os.kill(server.pid, signal.SIGSTOP)  # only the sibling can accept now
            try:
                if _health(port) == "primary":
                    return siblings[0]
            finally:
                os.kill(server.pid, signal.SIGCONT)
        time.sleep(0.1)
    raise AssertionError("the two processes did not come up")


def _states(database: Path) -> list[str]:
    with sqlite3.connect(database, timeout=30) as conn:
        return [state for (state,) in conn.execute("SELECT state FROM inbound_activities")]


async def test_sibling__accepts_on_the_primary_port_and_wakes_its_worker(
    instances: Factory, served: tuple[subprocess.Popen[str], int, Path]
) -> None:
    server, port, database = served
    b = await instances("b", ["bob"])
    async with b.sessions() as session:
        bob_actor = await b.user(session, "bob")
        key = (b.fed.urls.actor_key("bob"), ap.load_private_key(bob_actor.private_key_pem))
    sibling = await asyncio.to_thread(_wait_for_both, server, port)
    url = f"http://127.0.0.1:{port}/inbox"
    body, headers = signed_like(url, b.actor_url("bob"), 1, key)
    # Given the primary stopped, so that the sibling accepts the activity
    os.kill(server.pid, signal.SIGSTOP)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(url, content=body, headers=headers)
        assert response.status_code == 202, response.text
        assert _states(database) == ["queued"]
    finally:
        os.kill(server.pid, signal.SIGCONT)
    # Then the primary's worker processes it at once: it heard the sibling's ring, not its 30 s poll
    resumed = time.monotonic()

    async def done() -> bool:
        return _states(database) == ["done"]

    await eventually(done, within=10)
    assert time.monotonic() - resumed < 5
    assert _alive(sibling)


async def test_sibling__ends_with_the_primary_however_it_ends(served: tuple[subprocess.Popen[str], int, Path]) -> None:
    server, port, _ = served
    sibling = await asyncio.to_thread(_wait_for_both, server, port)
    os.kill(server.pid, signal.SIGKILL)
    server.wait(10)

    async def gone() -> bool:
        return not _alive(sibling)

    await eventually(gone, within=10)


def test_serve__sigterm_stops_every_process(served: tuple[subprocess.Popen[str], int, Path]) -> None:
    server, port, _ = served
    sibling = _wait_for_both(server, port)
    server.terminate()
    assert server.wait(30) in (0, -signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(sibling) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(sibling)


def test_serve__refuses_a_port_in_use(tmp_path: Path) -> None:
    env = {**os.environ, "FEDISERVER_CONFIG": str(tmp_path / "fediserver.toml")}
    fediserver = str(BIN / "fediserver")
    subprocess.run([fediserver, "init", "--domain", "127.0.0.1:8000", "--scheme", "http"], env=env, check=True)
    subprocess.run([fediserver, "migrate"], env=env, check=True, capture_output=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [fediserver, "serve", "--processes", "2", "--port", str(port)],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


async def test_gpu_worker__ends_with_serve_even_after_kill_9(
    served_with_gpu_worker: tuple[subprocess.Popen[str], int, Path],
) -> None:
    server, _, _ = served_with_gpu_worker

    async def started() -> bool:
        return len(_children_of(server.pid, b"gpu-worker")) == 1

    await eventually(started, within=60)
    (gpu,) = _children_of(server.pid, b"gpu-worker")
    # When serve is killed outright: no signal handler runs, no child is told
    os.kill(server.pid, signal.SIGKILL)
    server.wait(10)

    # Then its GPU worker ends anyway, rather than holding the model beside the next serve's
    async def gone() -> bool:
        return not _alive(gpu)

    await eventually(gone, within=30)
