"""Real instances on loopback: each its own SQLite database, port and uvicorn server in this event loop."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

import activitypub as ap
from fediserver import accounts, migrate
from fediserver.app import AppOptions, create_app
from fediserver.config import Settings, parse_settings
from fediserver.db import make_engine, session_factory
from fediserver.federation.context import Federation
from fediserver.models import LocalActor

T = TypeVar("T")
SECRET = "loopback-test-secret-0123456789abcdefghij"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def serve(app: Starlette, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    # A handler still waiting when the test ends (on an event a failed test never set) is cut off after a few
    # seconds instead of holding the teardown, and the whole run, forever.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", timeout_graceful_shutdown=10
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            return server, task
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    raise RuntimeError("server did not start")


@dataclass
class Instance:
    """One running fediserver; ``sessions`` is a separate engine for the test's own reads and writes."""

    settings: Settings
    app: Starlette
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    server: uvicorn.Server
    task: asyncio.Task[None]

    @property
    def base(self) -> str:
        return f"http://{self.settings.instance.domain}"

    @property
    def fed(self) -> Federation:
        fed: Federation = self.app.state.federation
        return fed

    def actor_url(self, username: str) -> str:
        return self.fed.urls.actor(username)

    async def user(self, session: AsyncSession, username: str) -> LocalActor:
        return await accounts.get_user_actor(session, username)

    def wake(self) -> None:
        worker = getattr(self.app.state, "worker", None)
        if worker is not None:
            worker.wake()

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task
        await self.engine.dispose()


async def start_instance(tmp: Path, users: list[str], **sections: dict[str, Any]) -> Instance:
    return await start_instance_with(tmp, users, sections)


async def start_instance_with(
    tmp: Path, users: list[str], sections: dict[str, dict[str, Any]], run_worker: bool = True
) -> Instance:
    """An instance on a free loopback port; without ``run_worker`` a test's own worker is the only one."""
    port = free_port()
    raw: dict[str, dict[str, Any]] = {
        "instance": {"domain": f"127.0.0.1:{port}", "scheme": "http", "secret_key": SECRET},
        "database": {"url": f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}"},
        "media": {"directory": str(tmp / "media")},
        "federation": {"allow_private_addresses": True},
        "worker": {"poll_interval": 0.05},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    settings = parse_settings(raw, {}, tmp)
    engine = make_engine(settings.database_url)
    await migrate.upgrade(engine)
    sessions = session_factory(engine)
    async with sessions() as session:
        for username in users:
            await accounts.create_user(session, username, "password-" + username)
        await session.commit()
    app = create_app(settings, AppOptions(run_worker=run_worker))
    server, task = await serve(app, port)
    return Instance(settings, app, engine, sessions, server, task)


@pytest.fixture
async def instances(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Instance]]]:
    started: list[Instance] = []

    async def factory(name: str, users: list[str], *, run_worker: bool = True, **sections: dict[str, Any]) -> Instance:
        folder = tmp_path / name
        folder.mkdir()
        instance = await start_instance_with(folder, users, sections, run_worker)
        started.append(instance)
        return instance

    yield factory
    for instance in started:
        await instance.stop()


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 15.0) -> T:
    """Poll ``check`` until it returns something truthy; fail with the last value after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + within
    last: T | None = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {within} s (last: {last!r})")


async def steadily_held(pool: Any, samples: int = 10, interval: float = 0.02) -> int:
    """The fewest connections checked out of ``pool`` over ``samples`` looks. One held across a wait shows
    in every look; one a background task takes for a moment (the stream relay's poll, another queue's
    claim) does not, however loaded the machine."""
    fewest = pool.checkedout()
    for _ in range(samples - 1):
        await asyncio.sleep(interval)
        fewest = min(fewest, pool.checkedout())
    return int(fewest)


@pytest.fixture
def wait() -> Callable[..., Awaitable[Any]]:
    return eventually


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[[Starlette], Awaitable[str]]]:
    """Serve any ASGI app on a free loopback port for the test; returns its base URL."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(app: Starlette) -> str:
        port = free_port()
        running.append(await serve(app, port))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, task in running:
        server.should_exit = True
        await task


class Background:
    """Instances served from an event loop in a thread of their own, for synchronous (hypothesis) tests."""

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="background-instances", daemon=True)
        self.thread.start()
        self.started: list[Instance] = []
        # One client for every request: building an httpx.Client (its TLS context) costs ~0.3 s here.
        self.http = httpx.Client(timeout=60)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, name: str, users: list[str], **sections: dict[str, Any]) -> Instance:
        instance = self.run(start_instance(self.tmp.mktemp(name), users, **sections))
        self.started.append(instance)
        return instance

    def close(self) -> None:
        self.http.close()
        for instance in self.started:
            self.run(instance.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
        # A keep-alive transport of this loop that its server closed under it is only finalised by the
        # garbage collector; collect now, in this teardown, instead of in whichever test it next runs in.
        gc.collect()


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Background]:
    runner = Background(tmp_path_factory)
    try:
        yield runner
    finally:
        runner.close()


def signed_like(url: str, actor: str, n: int, key: tuple[str, ap.PrivateKey]) -> tuple[bytes, dict[str, str]]:
    """A Like by ``actor`` of itself, numbered ``n``, signed (cavage-12) with ``key`` for a POST to ``url``."""
    body = json.dumps(
        {"@context": ap.AS_CONTEXT, "id": f"{actor}#likes/{n}", "type": "Like", "actor": actor, "object": actor}
    ).encode()
    headers = ap.sign_request(
        method="POST", url=url, headers={"content-type": ap.ACTIVITY_JSON}, body=body, key_id=key[0],
        private_key=key[1], now=datetime.now(UTC),
    )  # fmt: skip
    return body, headers
