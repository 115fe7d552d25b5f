"""The writing-help API: queue a task, read it, stream its text (SSE), cancel it.

``POST /api/v1/assist/alt-text`` takes a multipart ``file`` (and an optional ``hint``, such as the
prompt of a generated image) or JSON ``{"generation": TOKEN}`` for one of the caller's generated images;
``rewrite`` takes JSON ``text``, ``style``, ``language``; ``prompt`` takes ``idea`` and ``model``;
``hashtags`` takes ``text``. Each answers 202 with ``status_url`` and ``events_url``. Only the owner can
read a job: what a member drafts stays theirs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select, update
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from fediserver.assist import jobs
from fediserver.auth import authenticate
from fediserver.errors import Conflict, InvalidInput, NotFound
from fediserver.models import AssistJob, GenerationJob, LocalActor, MediaAttachment, utcnow
from fediserver.urls import Urls
from generation.assist import AssistKind

FINAL_STATES = frozenset({"done", "failed", "cancelled"})
EVENT_POLL = 0.05
_TEXT_FIELDS: dict[str, frozenset[str]] = {
    "rewrite": frozenset({"text", "style", "language", "seed"}),
    "prompt": frozenset({"idea", "model", "seed"}),
    "hashtags": frozenset({"text", "seed"}),
}


def _status(urls: Urls, job: AssistJob) -> dict[str, Any]:
    return {
        "id": job.token,
        "kind": job.kind,
        "state": job.state,
        "model": job.model,
        "seed": job.seed,
        "text": job.output,
        "tokens": job.tokens,
        "notice": job.notice,
        "error": job.last_error if job.state in ("failed", "cancelled") else None,
        "status_url": urls.assist_job(job.token),
        "events_url": urls.assist_events(job.token),
    }


async def _json_object(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    unknown = set(body) - allowed
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    for key, value in body.items():
        if key == "seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidInput("seed: expected an integer")
        elif value is not None and not isinstance(value, str):
            raise InvalidInput(f"{key}: expected a string")
    return body


async def _queue(request: Request, actor: LocalActor, assist_request: Any, session: Any) -> Response:
    job = await jobs.enqueue(session, request.app.state.settings, actor, assist_request)
    await session.commit()
    return JSONResponse(_status(request.app.state.urls, job), status_code=202)


async def create_text(request: Request) -> Response:
    kind: AssistKind = request.path_params["kind"]
    if kind not in _TEXT_FIELDS:
        raise NotFound(f"no writing-help task {kind!r}")
    settings = request.app.state.settings.assist
    jobs.check_enabled(settings, kind)
    async with request.app.state.sessions() as session:
        actor = await authenticate(request, session, scope="assist")
        body = await _json_object(request, _TEXT_FIELDS[kind])
        assist_request = jobs.build(
            settings,
            kind,
            text=body.get("text") or body.get("idea") or "",
            style=body.get("style"),
            language=body.get("language"),
            target_model=body.get("model"),
            seed=body.get("seed"),
        )
        return await _queue(request, actor, assist_request, session)


async def create_alt_text(request: Request) -> Response:
    settings = request.app.state.settings.assist
    jobs.check_enabled(settings, "alt_text")
    async with request.app.state.sessions() as session:
        actor = await authenticate(request, session, scope="assist")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "multipart/form-data":
            async with request.form(max_files=1, max_fields=4, max_part_size=jobs.MAX_IMAGE_BYTES) as form:
                upload, hint = form.get("file"), form.get("hint")
                if not isinstance(upload, UploadFile):
                    raise InvalidInput("file: attach the image to describe")
                image = await upload.read(jobs.MAX_IMAGE_BYTES + 1)
            text = hint if isinstance(hint, str) else ""
        else:
            body = await _json_object(request, frozenset({"generation", "seed"}))
            if not body.get("generation"):
                raise InvalidInput("send the image as multipart 'file', or JSON {\"generation\": TOKEN}")
            image, text = await _generated_image_bytes(request, session, actor, body["generation"])
        assist_request = jobs.build(settings, "alt_text", text=text, image=image)
        return await _queue(request, actor, assist_request, session)


async def _generated_image_bytes(request: Request, session: Any, actor: LocalActor, token: str) -> tuple[bytes, str]:
    job = await session.scalar(select(GenerationJob).where(GenerationJob.token == token))
    if job is None or job.local_actor_id != actor.id:
        raise NotFound("no such generation")
    media = await session.scalar(select(MediaAttachment).where(MediaAttachment.generation_job_id == job.id))
    if media is None or not media.storage_key:
        raise Conflict("that generation has no image yet")
    path = request.app.state.media.path(media.storage_key)
    data = await asyncio.to_thread(path.read_bytes)
    # The prompt is a hint for the describer, never the description (docs/assist.md §7).
    return data, job.prompt


async def _owned_job(request: Request) -> AssistJob:
    async with request.app.state.sessions() as session:
        actor = await authenticate(request, session, scope="assist")
        job: AssistJob | None = await session.scalar(
            select(AssistJob).where(AssistJob.token == request.path_params["token"])
        )
        await session.commit()
    if job is None or job.local_actor_id != actor.id:
        raise NotFound("no such writing-help job")
    return job


async def _reload(request: Request, job_id: int) -> AssistJob:
    async with request.app.state.sessions() as session:
        job: AssistJob | None = await session.get(AssistJob, job_id)
    if job is None:
        raise NotFound("no such writing-help job")
    return job


async def status(request: Request) -> Response:
    return JSONResponse(_status(request.app.state.urls, await _owned_job(request)))


async def cancel(request: Request) -> Response:
    job = await _owned_job(request)
    if job.state in FINAL_STATES:
        raise Conflict(f"writing help already {job.state}")
    async with request.app.state.sessions() as session:
        await session.execute(
            update(AssistJob)
            .where(AssistJob.id == job.id, AssistJob.state == "queued")
            .values(state="cancelled", finished_at=utcnow(), last_error="cancelled before it started", image=None)
        )
        await session.execute(update(AssistJob).where(AssistJob.id == job.id).values(cancel_requested=True))
        await session.commit()
    return JSONResponse(_status(request.app.state.urls, await _reload(request, job.id)), status_code=202)


async def events(request: Request) -> Response:
    """Server-Sent Events: a ``token`` event for each new piece of text, then one ``done`` event."""
    first = await _owned_job(request)
    urls: Urls = request.app.state.urls

    async def stream() -> AsyncIterator[str]:
        sent = 0
        job = first
        while True:
            if job.state != "done" and len(job.output) > sent:
                yield f"event: token\ndata: {json.dumps({'text': job.output[sent:]})}\n\n"
                sent = len(job.output)
            if job.state in FINAL_STATES:
                yield f"event: done\ndata: {json.dumps(_status(urls, job))}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL)
            job = await _reload(request, job.id)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


routes = [
    Route("/api/v1/assist/alt-text", create_alt_text, methods=["POST"]),
    Route("/api/v1/assist/{kind:str}", create_text, methods=["POST"]),
    Route("/api/v1/assist/{token}", status),
    Route("/api/v1/assist/{token}/events", events),
    Route("/api/v1/assist/{token}/cancel", cancel, methods=["POST"]),
]
