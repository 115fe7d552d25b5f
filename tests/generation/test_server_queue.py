"""The server's generation queue on the real tiny pipeline: batching, posting, cancelling, failing,
reclaiming, and the HTTP API with its progress stream."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver import accounts, migrate
from fediserver.app import AppOptions, create_app
from fediserver.config import Settings
from fediserver.db import make_engine, session_factory
from fediserver.federation.context import Federation
from fediserver.federation.render import note_to_as
from fediserver.imagegen import jobs
from fediserver.imagegen.worker import GenerationWorker
from fediserver.media import LocalMediaStore
from fediserver.models import GenerationJob, MediaAttachment, Note, utcnow
from fediserver.urls import Urls
from generation.images import read_digital_source_type
from generation.provenance import ContentSigner, InstanceCertificates, verify
from generation.renderer import Renderer

if TYPE_CHECKING:
    from generation._torch.engine import DiffusersEngine

GEN = {"model": "tiny", "width": 64, "height": 64}


@pytest.fixture
def gen_settings(make_settings: Any) -> Settings:
    settings: Settings = make_settings(generation=GEN, worker={"poll_interval": 0.05})
    return settings


@pytest.fixture
async def db(gen_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    eng: AsyncEngine = make_engine(gen_settings.database_url)
    await migrate.upgrade(eng)
    sessions = session_factory(eng)
    async with sessions() as session:
        await accounts.create_user(session, "alice", "alice-password")
        await session.commit()
    yield sessions
    await eng.dispose()


@pytest.fixture
async def worker(
    gen_settings: Settings, db: async_sessionmaker[AsyncSession], tiny_engine: DiffusersEngine, signer: ContentSigner
) -> AsyncIterator[GenerationWorker]:
    def renderer_for(model: str) -> Renderer:
        if model != "tiny":
            raise RuntimeError(f"no weights for {model} here")
        return Renderer(tiny_engine, signer)

    async with httpx.AsyncClient() as http:
        fed = Federation(settings=gen_settings, urls=Urls.from_settings(gen_settings), http=http)
        yield GenerationWorker(fed, db, LocalMediaStore(gen_settings.media_dir), renderer_for, max_batch=4)


async def _enqueue(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], post: bool = False, **params: Any
) -> GenerationJob:
    async with sessions() as session:
        actor = await accounts.get_user_actor(session, "alice")
        request = jobs.build_request(settings, params.pop("prompt", "a fox"), **params)
        job = await jobs.enqueue(
            session,
            actor,
            request,
            post_text="my fox" if post else None,
            visibility="public" if post else None,
            quota=settings,
        )
        await session.commit()
        return job


async def _drain(worker: GenerationWorker) -> list[int]:
    sizes = []
    while batch := await worker.claim_batch():
        sizes.append(len(batch))
        await worker.run_batch(batch)
    return sizes


async def _get(sessions: async_sessionmaker[AsyncSession], job_id: int) -> GenerationJob:
    async with sessions() as session:
        job = await session.get(GenerationJob, job_id)
        assert job is not None
        return job


async def test_worker__batches_compatible_jobs_and_posts_the_result(
    gen_settings: Settings, db: async_sessionmaker[AsyncSession], worker: GenerationWorker
) -> None:
    posted = await _enqueue(gen_settings, db, post=True, seed=1)
    plain = await _enqueue(gen_settings, db, seed=2)
    other = await _enqueue(gen_settings, db, seed=3, steps=3)
    assert await _drain(worker) == [2, 1], "the two compatible jobs share a batch"
    for job in (posted, plain, other):
        done = await _get(db, job.id)
        assert done.state == "done"
        assert (done.progress_step, done.progress_total) == (done.steps, done.steps)
    async with db() as session:
        media = (await session.scalars(select(MediaAttachment).order_by(MediaAttachment.id))).all()
        note = await session.scalar(select(Note).where(Note.generation_job_id == posted.id))
        assert note is not None
        attached = (await session.scalars(select(MediaAttachment).where(MediaAttachment.note_id == note.id))).all()
        stored_job = await session.get(GenerationJob, posted.id)
        assert stored_job is not None
    assert len(media) == 3
    store = LocalMediaStore(gen_settings.media_dir)
    webp = store.path(media[0].storage_key or "").read_bytes()
    assert read_digital_source_type(webp) == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    assert store.path(media[0].original_key or "").read_bytes().startswith(b"\x89PNG")
    assert "#<span>AIGenerated</span>" in note.content
    assert "my fox" in note.content
    doc = note_to_as(note, Urls.from_settings(gen_settings), list(attached), stored_job)
    [image] = doc["attachment"]
    assert image["type"] == "Image"
    assert image["mediaType"] == "image/webp"
    assert (image["width"], image["height"]) == (64, 64)
    assert image["name"] == "AI-generated image: a fox"
    assert image["blurhash"]
    assert {"type": "Hashtag", "name": "#AIGenerated", "href": "http://127.0.0.1:8000/tags/aigenerated"} in doc["tag"]
    assert doc["generation"]["seed"] == 1
    assert doc["generation"]["model"] == "tiny"


async def test_worker__seed_is_drawn_and_recorded_when_not_given(
    gen_settings: Settings, db: async_sessionmaker[AsyncSession]
) -> None:
    first = await _enqueue(gen_settings, db)
    second = await _enqueue(gen_settings, db)
    assert isinstance(first.seed, int)
    assert first.seed != second.seed


async def test_worker__cancelled_job_renders_nothing(
    gen_settings: Settings, db: async_sessionmaker[AsyncSession], worker: GenerationWorker
) -> None:
    job = await _enqueue(gen_settings, db, seed=5)
    async with db() as session:
        row = await session.get(GenerationJob, job.id)
        assert row is not None
        row.cancel_requested = True
        await session.commit()
    worker._cancelled.add(job.id)
    await _drain(worker)
    assert (await _get(db, job.id)).state == "cancelled"
    async with db() as session:
        assert (await session.scalars(select(MediaAttachment))).all() == []


async def test_worker__a_failure_fails_that_job_and_the_worker_goes_on(
    gen_settings: Settings, db: async_sessionmaker[AsyncSession], worker: GenerationWorker
) -> None:
    broken = await _enqueue(gen_settings, db, seed=6, model="sd15")
    fine = await _enqueue(gen_settings, db, seed=7)
    await _drain(worker)
    failed = await _get(db, broken.id)
    assert failed.state == "failed"
    assert "no weights for sd15" in (failed.last_error or "")
    assert (await _get(db, fine.id)).state == "done"


async def test_worker__takes_back_a_job_whose_worker_died(
    gen_settings: Settings, db: async_sessionmaker[AsyncSession], worker: GenerationWorker
) -> None:
    job = await _enqueue(gen_settings, db, seed=8)
    async with db() as session:
        row = await session.get(GenerationJob, job.id)
        assert row is not None
        row.state, row.locked_until = "running", utcnow() - timedelta(seconds=1)
        await session.commit()
    assert await _drain(worker) == [1]
    assert (await _get(db, job.id)).state == "done"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
async def api(gen_settings: Settings, db: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gen_settings, AppOptions(run_worker=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            yield http


async def test_api__queue_needs_a_user_and_valid_input(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/v1/generations", json={"prompt": "x"})).status_code == 401
    wrong = await api.post("/api/v1/generations", json={"prompt": "x"}, headers=_basic("alice", "nope"))
    assert wrong.status_code == 401
    bad = await api.post(
        "/api/v1/generations", json={"prompt": "x", "width": 65}, headers=_basic("alice", "alice-password")
    )
    assert bad.status_code == 422
    assert "width" in bad.json()["error"]
    extra = await api.post(
        "/api/v1/generations", json={"prompt": "x", "cfg": 1}, headers=_basic("alice", "alice-password")
    )
    assert extra.status_code == 422


async def test_api__queue_stream_progress_and_finish(api: httpx.AsyncClient, worker: GenerationWorker) -> None:
    created = await api.post(
        "/api/v1/generations", json={"prompt": "a fox", "text": "look"}, headers=_basic("alice", "alice-password")
    )
    assert created.status_code == 202
    body = created.json()
    assert body["state"] == "queued"
    assert isinstance(body["parameters"]["seed"], int)
    events: list[tuple[str, dict[str, Any]]] = []

    async def listen() -> None:
        async with api.stream("GET", body["events_url"], headers=_basic("alice", "alice-password")) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            name = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[6:])))

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)
    await _drain(worker)
    await asyncio.wait_for(listener, timeout=10)
    assert events[0] == ("progress", {"state": "queued", "step": 0, "total": 2})
    assert events[-1][0] == "done"
    final = events[-1][1]
    assert final["state"] == "done"
    assert final["image"].startswith("http://127.0.0.1:8000/media/")
    assert final["post"].startswith("http://127.0.0.1:8000/notes/")
    status = await api.get(body["status_url"], headers=_basic("alice", "alice-password"))
    assert status.json()["state"] == "done"
    # Only the owner reads a job: its prompt and post may be followers-only or direct.
    assert (await api.get(body["status_url"])).status_code == 401
    assert (await api.get(body["events_url"])).status_code == 401


async def test_api__cancel_a_queued_job(api: httpx.AsyncClient) -> None:
    created = (
        await api.post("/api/v1/generations", json={"prompt": "x"}, headers=_basic("alice", "alice-password"))
    ).json()
    cancelled = await api.post(created["status_url"] + "/cancel", headers=_basic("alice", "alice-password"))
    assert cancelled.status_code == 202
    assert cancelled.json()["state"] == "cancelled"
    again = await api.post(created["status_url"] + "/cancel", headers=_basic("alice", "alice-password"))
    assert again.status_code == 409


# --- Robustness (issue 8) and rendering while encoding (issue 14) ---


def _media_files(settings: Settings) -> list[str]:
    root = settings.media_dir
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def _set(sessions: async_sessionmaker[AsyncSession], job_id: int, **values: Any) -> None:
    async with sessions() as session:
        row = await session.get(GenerationJob, job_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)
        await session.commit()


async def test_api__post_text_create_post_would_refuse_is_refused_before_queueing(
    api: httpx.AsyncClient, db: async_sessionmaker[AsyncSession]
) -> None:
    auth = _basic("alice", "alice-password")
    too_long = await api.post("/api/v1/generations", json={"prompt": "a fox", "text": "x" * 20_000}, headers=auth)
    assert too_long.status_code == 422
    assert "text: at most" in too_long.json()["error"]
    over_limit = await api.post("/api/v1/generations", json={"prompt": "a fox", "text": "x" * 501}, headers=auth)
    assert over_limit.status_code == 422
    assert "text: at most 500 characters" in over_limit.json()["error"]
    async with db() as session:
        assert (await session.scalars(select(GenerationJob))).all() == []
    # Without a post the text is not published, so the instance's limit does not apply (the field's
    # own bound of 5,000 characters still does).
    unposted = await api.post(
        "/api/v1/generations", json={"prompt": "a fox", "text": "x" * 600, "post": False}, headers=auth
    )
    assert unposted.status_code == 202


async def test_worker__post_text_is_checked_again_before_rendering(
    gen_settings: Settings, db: async_sessionmaker[AsyncSession], worker: GenerationWorker
) -> None:
    # A row written before the API checked (or by another version) must not render and then fail.
    bad = await _enqueue(gen_settings, db, post=True, seed=20)
    await _set(db, bad.id, post_text="x" * 20_000)
    fine = await _enqueue(gen_settings, db, post=True, seed=21)
    await _drain(worker)
    failed = await _get(db, bad.id)
    assert failed.state == "failed"
    assert "text: at most 500 characters" in (failed.last_error or "")
    assert failed.progress_step == 0, "refused before any step rendered"
    assert (await _get(db, fine.id)).state == "done"
    async with db() as session:
        media = (await session.scalars(select(MediaAttachment))).all()
    assert [m.generation_job_id for m in media] == [fine.id]
    assert len(_media_files(gen_settings)) == 3, "only the good job's WebP, PNG and thumbnail"


async def test_worker__a_failure_after_rendering_fails_that_job_and_leaves_no_files(
    gen_settings: Settings,
    db: async_sessionmaker[AsyncSession],
    worker: GenerationWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fediserver.imagegen import results

    real_publish = results.publish
    failing = await _enqueue(gen_settings, db, post=True, seed=22, prompt="breaks on publish")
    fine = await _enqueue(gen_settings, db, post=True, seed=23)

    async def publish(fed: Any, session: AsyncSession, store: Any, actor: Any, job: GenerationJob, media: Any) -> Note:
        if job.prompt == "breaks on publish":
            raise RuntimeError("the database went away")
        return await real_publish(fed, session, store, actor, job, media)

    monkeypatch.setattr(results, "publish", publish)
    await _drain(worker)
    failed = await _get(db, failing.id)
    assert failed.state == "failed"
    assert failed.last_error == "RuntimeError: the database went away"
    assert failed.locked_until is None
    assert (await _get(db, fine.id)).state == "done"
    async with db() as session:
        media = (await session.scalars(select(MediaAttachment))).all()
        notes = (await session.scalars(select(Note))).all()
    assert [m.generation_job_id for m in media] == [fine.id]
    assert [n.generation_job_id for n in notes] == [fine.id]
    kept = {m.storage_key for m in media} | {m.original_key for m in media} | {m.thumbnail_key for m in media}
    assert set(_media_files(gen_settings)) == kept, "the failed job's files were removed"


async def test_worker__a_row_that_does_not_decode_fails_alone(
    gen_settings: Settings, db: async_sessionmaker[AsyncSession], worker: GenerationWorker
) -> None:
    broken = await _enqueue(gen_settings, db, seed=24)
    await _set(db, broken.id, seed=-1)
    fine = await _enqueue(gen_settings, db, seed=25)
    await _drain(worker)
    failed = await _get(db, broken.id)
    assert failed.state == "failed"
    assert "seed must be an integer" in (failed.last_error or "")
    assert (await _get(db, fine.id)).state == "done"


@pytest.mark.parametrize(("attempts_before", "state"), [(2, "done"), (3, "failed")])
async def test_worker__a_job_whose_worker_keeps_dying_fails_after_max_attempts(
    gen_settings: Settings,
    db: async_sessionmaker[AsyncSession],
    worker: GenerationWorker,
    attempts_before: int,
    state: str,
) -> None:
    job = await _enqueue(gen_settings, db, seed=26)
    # As the queue leaves a job whose worker was killed mid-render: running, lease lapsed.
    await _set(db, job.id, state="running", attempts=attempts_before, locked_until=utcnow() - timedelta(seconds=1))
    assert worker.max_attempts == 3
    assert await _drain(worker) == [1]
    after = await _get(db, job.id)
    assert after.attempts == attempts_before + 1
    assert after.state == state
    if state == "failed":
        assert "gave up after 3 attempts" in (after.last_error or "")
        async with db() as session:
            assert (await session.scalars(select(MediaAttachment))).all() == []


async def test_worker__the_loop_survives_a_failing_claim(
    gen_settings: Settings,
    db: async_sessionmaker[AsyncSession],
    worker: GenerationWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = await _enqueue(gen_settings, db, seed=27)
    real_claim = worker.claim_batch
    calls = 0

    async def claim_batch() -> list[GenerationJob]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RecursionError("maximum recursion depth exceeded while decoding a row")
        return await real_claim()

    monkeypatch.setattr(worker, "claim_batch", claim_batch)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    for _ in range(400):
        if (await _get(db, job.id)).state == "done":
            break
        assert not running.done(), "the worker loop ended"
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert calls >= 2
    assert (await _get(db, job.id)).state == "done"


async def test_worker__pool_finishes_while_the_next_batch_renders_and_stores_in_job_order(
    gen_settings: Settings,
    db: async_sessionmaker[AsyncSession],
    tiny_engine: DiffusersEngine,
    certificates: InstanceCertificates,
) -> None:
    from generation.finishing import Finisher

    finisher = Finisher(1, certificates=certificates)
    try:
        async with httpx.AsyncClient() as http:
            fed = Federation(settings=gen_settings, urls=Urls.from_settings(gen_settings), http=http)
            worker = GenerationWorker(
                fed,
                db,
                LocalMediaStore(gen_settings.media_dir),
                lambda _model: Renderer(tiny_engine, None),
                max_batch=2,
                poll_interval=0.05,
                finisher=finisher,
            )
            queued = [await _enqueue(gen_settings, db, post=True, seed=30 + i) for i in range(5)]
            stop = asyncio.Event()
            running = asyncio.create_task(worker.run(stop))
            for _ in range(600):
                states = [(await _get(db, j.id)).state for j in queued]
                if states == ["done"] * len(queued):
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(running, 30)
    finally:
        finisher.close()
    done = [await _get(db, j.id) for j in queued]
    assert [j.state for j in done] == ["done"] * 5
    finished = [j.finished_at for j in done if j.finished_at is not None]
    assert len(finished) == len(done)
    assert finished == sorted(finished), "stored in the order the jobs were queued"
    async with db() as session:
        media = (await session.scalars(select(MediaAttachment).order_by(MediaAttachment.id))).all()
    assert [m.generation_job_id for m in media] == [j.id for j in queued]
    png = LocalMediaStore(gen_settings.media_dir).path(media[0].original_key or "").read_bytes()
    report = verify(png, "image/png", trust_anchor_pem=certificates.root_pem)
    assert report is not None
    assert report.state == "Trusted", "signed in the pool with the instance chain"


async def test_worker__an_avatar_job_becomes_the_profile_image_not_a_post(
    gen_settings: Settings, db: async_sessionmaker[AsyncSession], worker: GenerationWorker
) -> None:
    async with db() as session:
        actor = await accounts.get_user_actor(session, "alice")
        request = jobs.build_request(gen_settings, "a fox portrait", seed=5)
        job = await jobs.enqueue(session, actor, request, purpose="avatar", quota=None)
        await session.commit()
    await _drain(worker)
    assert (await _get(db, job.id)).state == "done"
    async with db() as session:
        actor = await accounts.get_user_actor(session, "alice")
        media = await session.scalar(select(MediaAttachment).where(MediaAttachment.generation_job_id == job.id))
        notes = (await session.scalars(select(Note))).all()
    assert media is not None
    assert actor.avatar_key == media.storage_key
    assert actor.avatar_media_type == "image/webp"
    assert actor.header_key is None
    assert notes == []


async def test_enqueue__refuses_an_unknown_purpose_and_a_posted_avatar(
    gen_settings: Settings, db: async_sessionmaker[AsyncSession]
) -> None:
    from fediserver.errors import InvalidInput

    async with db() as session:
        actor = await accounts.get_user_actor(session, "alice")
        request = jobs.build_request(gen_settings, "a fox", seed=5)
        with pytest.raises(InvalidInput, match="purpose"):
            await jobs.enqueue(session, actor, request, purpose="banner", quota=None)
        with pytest.raises(InvalidInput, match="not posted"):
            await jobs.enqueue(session, actor, request, purpose="header", visibility="public", quota=None)
