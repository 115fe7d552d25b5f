"""The web UI over ASGI: an app per test with users, and a browser-like client that logs in through forms."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.app import AppOptions, create_app
from fediserver.config import Settings

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
        settings: Settings = make_settings(instance={"registration": registration}, **sections)
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
