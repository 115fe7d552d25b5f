"""Generation for members on the real tiny pipeline: a batch of four to pick from, and profile images
generated from a prompt (the worker sets them) or taken from a finished generation."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.imagegen.worker import GenerationWorker
from fediserver.models import GenerationJob, LocalActor, Note

from .conftest import Browser, drain, log_in, post_form


async def _member(browser: Browser, username: str = "alice") -> httpx.AsyncClient:
    client = await browser()
    assert (await log_in(client, username, f"{username}-password")).status_code == 303
    return client


async def _alice(sessions: async_sessionmaker[AsyncSession]) -> LocalActor:
    async with sessions() as session:
        actor = await session.scalar(select(LocalActor).where(LocalActor.username == "alice"))
    assert actor is not None
    return actor


async def test_batch_of_four__progress_per_tile_then_pick_one_and_publish(
    browser: Browser, gpu: GenerationWorker, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice = await _member(browser)
    started = await post_form(
        alice, "/compose", "/compose/generate", {"prompt": "a red kite", "seed": "7", "batch": "4"}
    )
    assert started.status_code == 303
    location = started.headers["location"]
    assert urlsplit(location).path == "/compose/batch"
    tokens = parse_qs(urlsplit(location).query)["jobs"][0].split(",")
    assert len(tokens) == 4
    async with sessions() as session:
        jobs = (await session.scalars(select(GenerationJob).order_by(GenerationJob.id))).all()
    assert [j.seed for j in jobs] == [7, 8, 9, 10]
    assert [j.token for j in jobs] == tokens
    waiting = (await alice.get(location)).text
    assert waiting.count('class="tile"') == 4
    assert waiting.count('data-state="queued"') == 4
    assert waiting.count("/api/v1/generations/") == 4, "each tile names its SSE stream"
    assert "Pick this one" not in waiting
    batch = await gpu.claim_batch()
    assert len(batch) == 4, "the worker claims the four compatible jobs together"
    await gpu.run_batch(batch)
    ready = (await alice.get(location)).text
    assert ready.count('data-state="done"') == 4
    assert ready.count('class="tile-percent" role="status">100%<') == 4
    picks = re.findall(r'href="(/compose/jobs/[0-9a-f]{32})"', ready)
    assert picks == [f"/compose/jobs/{t}" for t in tokens]
    published = await post_form(
        alice, picks[2], picks[2] + "/publish", {"text": "kite", "alt": "A red kite", "visibility": "public"}
    )
    assert published.status_code == 303
    async with sessions() as session:
        [note] = (await session.scalars(select(Note))).all()
        chosen = await session.get(GenerationJob, note.generation_job_id)
    assert chosen is not None
    assert chosen.seed == 9


async def test_batch__someone_elses_jobs_are_not_found(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice, mod = await _member(browser), await _member(browser, "mod")
    started = await post_form(alice, "/compose", "/compose/generate", {"prompt": "a kite", "batch": "4"})
    location = started.headers["location"]
    assert (await alice.get(location)).status_code == 200
    assert (await mod.get(location)).status_code == 404
    assert (await alice.get("/compose/batch?jobs=nothex")).status_code == 404


async def test_settings__avatar_generated_from_a_prompt(
    browser: Browser, gpu: GenerationWorker, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice = await _member(browser)
    started = await post_form(alice, "/settings", "/settings/generate", {"prompt": "a fox face", "purpose": "avatar"})
    assert started.status_code == 303
    assert (await _alice(sessions)).avatar_key is None
    assert await drain(gpu) == 1
    actor = await _alice(sessions)
    assert actor.avatar_key is not None
    assert actor.header_key is None
    page = (await alice.get(started.headers["location"])).text
    assert "Your profile image is updated." in page
    assert 'id="publish-form"' not in page, "a profile image is not offered as a post"
    refused = await post_form(alice, "/settings", "/settings/generate", {"prompt": "a fox", "purpose": "banner"})
    assert refused.status_code == 422


async def test_a_finished_generation_becomes_the_header(
    browser: Browser, gpu: GenerationWorker, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice = await _member(browser)
    started = await post_form(alice, "/compose", "/compose/generate", {"prompt": "a wide sea", "seed": "1"})
    job_page = started.headers["location"]
    early = await post_form(alice, "/compose", job_page + "/profile", {"purpose": "header"})
    assert early.status_code == 404, "not ready yet"
    assert await drain(gpu) == 1
    used = await post_form(alice, job_page, job_page + "/profile", {"purpose": "header"})
    assert used.status_code == 303
    actor = await _alice(sessions)
    assert actor.header_key is not None
    assert actor.avatar_key is None
