"""The web UI over ASGI: an app per test with users, and a browser-like client that logs in through forms."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.app import AppOptions, create_app
from fediserver.config import Settings
from fediserver.federation.context import Federation
from fediserver.imagegen.worker import GenerationWorker
from fediserver.media import LocalMediaStore
from fediserver.urls import Urls
from generation.renderer import Renderer

BASE = "http://127.0.0.1:8000"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')

Browser = Callable[..., Awaitable[httpx.AsyncClient]]


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    return await client.post(
        "/login", data={"username": username, "password": password, "csrf": csrf_of(form.text), "next": "/"}
    )


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, data: dict[str, Any], **kw: Any
) -> httpx.Response:
    """Submit a form the way a browser does: read the CSRF token from ``page``, then post to ``action``."""
    token = csrf_of((await client.get(page)).text)
    return await client.post(action, data={"csrf": token, **data}, **kw)


@pytest.fixture
async def users(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        await accounts.create_user(session, "alice", "alice-password")
        await accounts.create_user(session, "mod", "mod-password", is_admin=True)
        await session.commit()


@pytest.fixture
async def browser(make_settings: Any, engine: Any, users: None) -> AsyncIterator[Browser]:
    """``await browser(registration="open")`` → a client on a started app; same database for all."""
    stack: list[Any] = []

    async def factory(registration: str = "open", **sections: dict[str, Any]) -> httpx.AsyncClient:
        sections.setdefault("generation", GEN)
        instance = {"registration": registration, **sections.pop("instance", {})}
        settings: Settings = make_settings(instance=instance, **sections)
        app = create_app(settings, AppOptions(run_worker=False))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        stack.append(lifespan)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
        stack.append(client)
        return client

    yield factory
    for item in reversed(stack):
        if isinstance(item, httpx.AsyncClient):
            await item.aclose()
        else:
            await item.__aexit__(None, None, None)


GEN = {"model": "tiny", "width": 64, "height": 64}


@pytest.fixture(scope="session")
def tiny_engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny diffusers pipeline on the CPU, built offline once per session."""
    import torch

    from generation._torch.tiny import ensure_tiny_pipeline
    from generation.backend import load_engine

    assert os.environ.get("HF_HUB_OFFLINE") == "1", "run the tests with HF_HUB_OFFLINE=1"
    cache = tmp_path_factory.mktemp("web-model-cache")
    ensure_tiny_pipeline(cache)
    torch.set_num_threads(1)
    return load_engine("tiny", cache_dir=cache, device="cpu")


@pytest.fixture
async def gpu(
    make_settings: Any, sessions: async_sessionmaker[AsyncSession], tiny_engine: Any
) -> AsyncIterator[GenerationWorker]:
    """The real generation worker on the tiny pipeline (no C2PA signer: that has its own tests)."""
    settings: Settings = make_settings(generation=GEN)

    def renderer_for(model: str) -> Renderer:
        assert model == "tiny"
        return Renderer(tiny_engine, None)

    async with httpx.AsyncClient() as http:
        fed = Federation(settings=settings, urls=Urls.from_settings(settings), http=http)
        yield GenerationWorker(fed, sessions, LocalMediaStore(settings.media_dir), renderer_for, max_batch=4)


async def drain(worker: GenerationWorker) -> int:
    done = 0
    while batch := await worker.claim_batch():
        await worker.run_batch(batch)
        done += len(batch)
    return done
