"""The writing-help queue end to end: API, the worker with the tiny models, SSE, limits, switches."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver import accounts, migrate
from fediserver.app import AppOptions, create_app
from fediserver.assist.worker import AssistWorker
from fediserver.config import Settings
from fediserver.db import make_engine, session_factory
from fediserver.models import AssistJob, User
from fediserver.oauth import grants
from fediserver.oauth.scopes import Scopes
from generation.assist import TINY_ASSIST_NOTICE, AssistRequest, AssistResult
from generation.backend import WritingEngine

ALICE = {"authorization": "Basic " + base64.b64encode(b"alice:alice-password").decode()}
BOB = {"authorization": "Basic " + base64.b64encode(b"bob:bob-password!").decode()}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def assist_settings(make_settings: Any) -> Settings:
    settings: Settings = make_settings(
        assist={"text_model": "tiny", "caption_model": "tiny", "daily_limit": 5, "max_new_tokens": 16},
        worker={"poll_interval": 0.05},
    )
    return settings


@pytest.fixture
async def db(assist_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    eng: AsyncEngine = make_engine(assist_settings.database_url)
    await migrate.upgrade(eng)
    sessions = session_factory(eng)
    async with sessions() as session:
        await accounts.create_user(session, "alice", "alice-password")
        await accounts.create_user(session, "bob", "bob-password!")
        await session.commit()
    yield sessions
    await eng.dispose()


@pytest.fixture
async def api(assist_settings: Settings, db: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(assist_settings, AppOptions(run_worker=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            yield http


@pytest.fixture
def worker(db: async_sessionmaker[AsyncSession], tiny_assist_engine: WritingEngine) -> AssistWorker:
    return AssistWorker(db, lambda: tiny_assist_engine, ThreadPoolExecutor(max_workers=1), poll_interval=0.05)


async def _events(api: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    async with api.stream("GET", url, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


@dataclass
class SlowEngine:
    """The tiny engine writing at a person's reading pace (30 ms a token), so the stream has pieces to show."""

    inner: WritingEngine

    def run(
        self,
        request: AssistRequest,
        on_token: Callable[[str], None] | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> AssistResult:
        def slowly(piece: str) -> None:
            time.sleep(0.03)
            if on_token is not None:
                on_token(piece)

        return self.inner.run(request, on_token=slowly, should_cancel=should_cancel)


async def test_rewrite__queued_written_by_the_worker_and_streamed(
    api: httpx.AsyncClient, worker: AssistWorker, tiny_assist_engine: WritingEngine
) -> None:
    created = await api.post(
        "/api/v1/assist/rewrite", json={"text": "my first post", "style": "shorter"}, headers=ALICE
    )
    assert created.status_code == 202
    body = created.json()
    assert body["state"] == "queued"
    assert body["model"] == "tiny"
    assert isinstance(body["seed"], int)
    listener = asyncio.create_task(_events(api, body["events_url"], ALICE))
    await asyncio.sleep(0.3)  # the stream is open before the first token is written
    stop = asyncio.Event()
    worker.engine_for = lambda: SlowEngine(tiny_assist_engine)
    running = asyncio.create_task(worker.run(stop))
    events = await asyncio.wait_for(listener, timeout=60)
    stop.set()
    await running
    names = [name for name, _ in events]
    assert names[-1] == "done"
    assert names.count("token") >= 1
    final = events[-1][1]
    assert final["state"] == "done"
    assert final["notice"] == TINY_ASSIST_NOTICE
    assert final["tokens"] == 16
    # The stream carries the raw text as it is written; ``done`` carries the whole answer, cleaned.
    streamed = "".join(data["text"] for name, data in events if name == "token")
    assert final["text"]
    assert final["text"].startswith(streamed.strip())
    # Only the owner reads a draft.
    assert (await api.get(body["status_url"], headers=BOB)).status_code == 404
    assert (await api.get(body["status_url"])).status_code == 401
    assert (await api.get(body["status_url"], headers=ALICE)).json()["text"] == final["text"]


async def test_alt_text__from_an_upload_and_the_image_is_not_kept(
    api: httpx.AsyncClient, worker: AssistWorker, db: async_sessionmaker[AsyncSession]
) -> None:
    created = await api.post(
        "/api/v1/assist/alt-text", files={"file": ("x.png", _png(), "image/png")}, data={"hint": ""}, headers=ALICE
    )
    assert created.status_code == 202, created.text
    job = await worker.claim()
    assert job is not None
    await worker.run_job(job)
    done = (await api.get(created.json()["status_url"], headers=ALICE)).json()
    assert done["state"] == "done"
    assert done["text"]
    async with db() as session:
        row = await session.scalar(select(AssistJob).where(AssistJob.token == done["id"]))
        assert row is not None
        assert row.image is None
    missing = await api.post("/api/v1/assist/alt-text", json={}, headers=ALICE)
    assert missing.status_code == 422


async def test_bad_input__gets_a_4xx_with_a_reason(api: httpx.AsyncClient) -> None:
    cases = [
        ("/api/v1/assist/rewrite", b"{not json", 422),
        ("/api/v1/assist/rewrite", b"[]", 422),
        ("/api/v1/assist/rewrite", json.dumps({"text": 5}).encode(), 422),
        ("/api/v1/assist/rewrite", json.dumps({"text": "x", "tone": "y"}).encode(), 422),
        ("/api/v1/assist/rewrite", json.dumps({"text": "x", "seed": -1}).encode(), 422),
        ("/api/v1/assist/prompt", json.dumps({"idea": ""}).encode(), 422),
        ("/api/v1/assist/poem", json.dumps({"text": "x"}).encode(), 404),
        ("/api/v1/assist/rewrite", b"[" * 100_000, 422),
    ]
    for url, body, expected in cases:
        response = await api.post(url, content=body, headers={**ALICE, "content-type": "application/json"})
        assert response.status_code == expected, (url, body[:20], response.text)
        assert response.json()["error"]
    assert (await api.post("/api/v1/assist/rewrite", json={"text": "x"})).status_code == 401


async def test_cancel__a_queued_job_and_the_daily_limit(api: httpx.AsyncClient) -> None:
    first = (await api.post("/api/v1/assist/hashtags", json={"text": "fox"}, headers=ALICE)).json()
    cancelled = await api.post(first["status_url"] + "/cancel", headers=ALICE)
    assert cancelled.status_code == 202
    assert cancelled.json()["state"] == "cancelled"
    assert (await api.post(first["status_url"] + "/cancel", headers=ALICE)).status_code == 409
    for _ in range(4):
        assert (await api.post("/api/v1/assist/prompt", json={"idea": "fox"}, headers=ALICE)).status_code == 202
    limited = await api.post("/api/v1/assist/prompt", json={"idea": "fox"}, headers=ALICE)
    assert limited.status_code == 429
    assert "limit of 5" in limited.json()["error"]
    assert (await api.post("/api/v1/assist/prompt", json={"idea": "fox"}, headers=BOB)).status_code == 202


async def test_running_job__cancelled_between_tokens(
    api: httpx.AsyncClient, worker: AssistWorker, db: async_sessionmaker[AsyncSession]
) -> None:
    created = (await api.post("/api/v1/assist/rewrite", json={"text": "a long post"}, headers=ALICE)).json()
    job = await worker.claim()
    assert job is not None
    await api.post(created["status_url"] + "/cancel", headers=ALICE)
    await worker.run_job(job)
    status = (await api.get(created["status_url"], headers=ALICE)).json()
    assert status["state"] == "cancelled"


async def test_switched_off__is_refused_with_403(make_settings: Any, db: async_sessionmaker[AsyncSession]) -> None:
    settings: Settings = make_settings(assist={"rewrite": False})
    app = create_app(settings, AppOptions(run_worker=False))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as api,
    ):
        off = await api.post("/api/v1/assist/rewrite", json={"text": "x"}, headers=ALICE)
        assert off.status_code == 403
        assert "switched off" in off.json()["error"]
        assert (await api.post("/api/v1/assist/prompt", json={"idea": "x"}, headers=ALICE)).status_code == 202


async def _token(sessions: async_sessionmaker[AsyncSession], username: str, scopes: str) -> dict[str, str]:
    async with sessions() as session:
        actor = await accounts.get_user_actor(session, username)
        user = await session.scalar(select(User).where(User.actor_id == actor.id))
        parsed = Scopes.parse(scopes)
        app, _ = await grants.register_app(session, "assist test", [grants.OOB], parsed, None)
        issued = await grants.issue_token(session, app, user, parsed)
        await session.commit()
    return {"authorization": f"Bearer {issued.access_token}"}


async def test_oauth__a_token_with_the_assist_scope_works_and_one_without_is_refused(
    api: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    allowed = await _token(db, "alice", "read assist")
    created = await api.post("/api/v1/assist/prompt", json={"idea": "a fox"}, headers=allowed)
    assert created.status_code == 202
    assert (await api.get(created.json()["status_url"], headers=allowed)).status_code == 200
    read_only = await _token(db, "alice", "read write")
    refused = await api.post("/api/v1/assist/prompt", json={"idea": "a fox"}, headers=read_only)
    assert refused.status_code == 403
    bad = await api.post("/api/v1/assist/prompt", json={"idea": "a fox"}, headers={"authorization": "Bearer nope"})
    assert bad.status_code == 401
