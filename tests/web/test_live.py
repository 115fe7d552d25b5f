"""Live notifications in the web UI: ``/notifications/stream`` (Server-Sent Events from the streaming
broker, authorised by the session cookie) sends each new notification as the page's row with the unread
count, and every signed-in page's nav shows that count.

The stream is read from a real server on loopback (httpx's ASGI transport waits for a response to end,
and this one does not). Nothing here waits on a clock: "not sent" is shown by the next event that is.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts, migrate
from fediserver.app import AppOptions, create_app
from fediserver.config import Settings
from fediserver.db import make_engine, session_factory
from fediserver.domain import mutes
from fediserver.domain.posts import PostDraft, publish_post
from fediserver.domain.services import open_services
from fediserver.models import Note
from tests.conftest import POSTGRES_ENV, reset_postgres

from .conftest import Browser, log_in, post_form

pytestmark = pytest.mark.timeout(120)


@dataclass
class Live:
    base: str
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture(params=["sqlite", "postgresql"])
async def live(make_settings: Any, request: pytest.FixtureRequest) -> AsyncIterator[Live]:
    """The app served by uvicorn on a free loopback port, users alice and mod: on SQLite with the
    in-process broker, or on PostgreSQL with its LISTEN/NOTIFY broker (``FEDISERVER_TEST_DATABASE_URL``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sections: dict[str, Any] = {"instance": {"domain": f"127.0.0.1:{port}", "registration": "open"}}
    if request.param == "postgresql":
        url = os.environ.get(POSTGRES_ENV)
        if not url:
            pytest.skip(f"{POSTGRES_ENV} is not set")
        await reset_postgres(url)
        sections |= {"database": {"url": url}, "api": {"streaming_backend": "postgresql"}}
    settings: Settings = make_settings(**sections)
    engine = make_engine(settings.database_url)
    await migrate.upgrade(engine)
    sessions = session_factory(engine)
    async with sessions() as session:
        await accounts.create_user(session, "alice", "alice-password")
        await accounts.create_user(session, "mod", "mod-password")
        await session.commit()
    app = create_app(settings, AppOptions(run_worker=False))
    # Open streams never end by themselves: shutdown cancels them after a grace period, as `serve` does.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "server did not start"
            await asyncio.sleep(0.02)
        yield Live(base=f"http://127.0.0.1:{port}", settings=settings, sessions=sessions)
    finally:
        server.should_exit = True
        await serving
        await engine.dispose()
        if request.param == "postgresql":
            await reset_postgres(settings.database_url)


async def _member(live: Live, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=live.base)
    assert (await log_in(client, username, f"{username}-password")).status_code == 303
    return client


async def _post(sessions: async_sessionmaker[AsyncSession], settings: Settings, username: str) -> Note:
    async with sessions() as session, open_services(settings) as svc:
        actor = await accounts.get_user_actor(session, username)
        note = await publish_post(svc, session, actor, PostDraft(text=f"a post by {username}"))
        await session.commit()
        return note


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, JSON data) of each SSE event; comments (the opening one, heartbeats) are skipped."""
    name = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


async def test_stream__a_like_arrives_as_the_pages_row_with_the_unread_count(live: Live) -> None:
    sessions = live.sessions
    alice_post = await _post(sessions, live.settings, "alice")
    mod_post = await _post(sessions, live.settings, "mod")
    async with sessions() as session:
        await accounts.create_user(session, "carol", "carol-password")
        await session.commit()
    alice, mod, carol = await _member(live, "alice"), await _member(live, "mod"), await _member(live, "carol")
    async with sessions() as session, open_services(live.settings) as svc:
        me = await accounts.get_user_actor(session, "alice")
        await mutes.mute(svc, session, me, svc.urls.actor("carol"))
        await session.commit()
    async with (
        alice.stream("GET", "/notifications/stream") as alice_stream,
        mod.stream("GET", "/notifications/stream") as mod_stream,
    ):
        assert alice_stream.status_code == 200
        assert alice_stream.headers["content-type"].startswith("text/event-stream")
        alice_events, mod_events = _events(alice_stream), _events(mod_stream)
        # Carol is muted by alice: her like is not sent, so the first event alice gets is mod's.
        assert (await post_form(carol, "/local", f"/posts/{alice_post.id}/like", {})).status_code == 303
        assert (await post_form(mod, "/local", f"/posts/{alice_post.id}/like", {})).status_code == 303
        assert (await post_form(alice, "/local", f"/posts/{mod_post.id}/like", {})).status_code == 303
        name, data = await anext(alice_events)
        assert name == "notification"
        assert "mod liked your post" in data["html"]
        assert data["html"].startswith(f'<li class="notification unread" id="notification-{data["id"]}">')
        assert data["unread"] == 1, "carol's like is not counted either"
        # Each stream carries only its own member's: mod's first is alice's like, not the one for alice.
        name, data = await anext(mod_events)
        assert "alice liked your post" in data["html"]
        assert data["unread"] == 1
    page = (await alice.get("/notifications")).text
    assert "mod liked your post" in page
    assert "carol liked your post" not in page, "the page leaves muted senders out, as the stream does"
    for client in (alice, mod, carol):
        await client.aclose()


async def test_stream__without_a_session_is_401_with_the_reason(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.base) as guest:
        answer = await guest.get("/notifications/stream")
    assert answer.status_code == 401
    assert answer.text == "log in to follow your notifications"


async def test_nav_badge__counts_unread_on_every_page_and_hides_at_zero(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], make_settings: Any
) -> None:
    note = await _post(sessions, make_settings(), "alice")
    alice, mod = await browser(), await browser()
    await log_in(alice, "alice", "alice-password")
    await log_in(mod, "mod", "mod-password")
    assert '<span class="badge" id="unread-count" hidden><span class="n">0</span>' in (await alice.get("/home")).text
    assert (await post_form(mod, "/local", f"/posts/{note.id}/like", {})).status_code == 303
    for path in ("/home", "/local", "/search", "/settings"):
        page = (await alice.get(path)).text
        assert '<span class="badge" id="unread-count"><span class="n">1</span>' in page, path
        assert 'data-stream="/notifications/stream"' in page
    assert '<span class="n">0</span>' in (await mod.get("/home")).text, "mod has none"
    assert (await post_form(alice, "/notifications", "/notifications/read", {"up_to": ""})).status_code == 303
    assert 'id="unread-count" hidden><span class="n">0</span>' in (await alice.get("/home")).text
