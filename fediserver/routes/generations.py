"""The generation API: queue a prompt, read its status, stream its progress (SSE), cancel it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import activitypub as ap
from fediserver.auth import authenticate
from fediserver.errors import AppError, Conflict, InvalidInput, NotFound
from fediserver.imagegen import jobs
from fediserver.imagegen.watch import JobWatch
from fediserver.mastodon.auth import Forbidden
from fediserver.models import GenerationJob, MediaAttachment, Note
from fediserver.routes.responses import BodyTooLarge, read_capped
from fediserver.urls import Urls

FINAL_STATES = frozenset({"done", "failed", "cancelled"})
# An event stream reads its job again at least this often, even if the process's JobWatch saw no change.
EVENT_POLL = 1.0
_FIELDS = {"prompt", "negative_prompt", "seed", "model", "steps", "guidance", "width", "height"}
_FIELDS |= {"post", "text", "visibility"}
# A flat object of scalars: deep nesting or a huge string is refused before the fields are read (each
# field's own length is checked against ``_TEXT_LIMITS`` after, with its name in the reason).
BODY_LIMITS = ap.JsonLimits(max_depth=4, max_string=65_536, max_array=16, max_members=64)
# Lengths each text field may have; the post text is checked against the instance's limit after.
_TEXT_LIMITS = {
    "prompt": jobs.MAX_PROMPT,
    "negative_prompt": jobs.MAX_PROMPT,
    "model": 255,
    "text": jobs.MAX_POST_TEXT,
    "visibility": 16,
}


class BodyTooLargeError(AppError):
    status_code = 413


def _int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{key}: expected an integer")
    return value


async def _status(request: Request, job: GenerationJob) -> dict[str, Any]:
    urls: Urls = request.app.state.urls
    out: dict[str, Any] = {
        "id": job.token,
        "state": job.state,
        "progress": {"step": job.progress_step, "total": job.progress_total},
        "parameters": {
            "model": job.model,
            "prompt": job.prompt,
            "negative_prompt": job.negative_prompt,
            "seed": job.seed,
            "steps": job.steps,
            "guidance": job.guidance,
            "width": job.width,
            "height": job.height,
        },
        "error": job.last_error if job.state in ("failed", "cancelled") else None,
    }
    if job.state == "done":
        async with request.app.state.sessions() as session:
            media = await session.scalar(select(MediaAttachment).where(MediaAttachment.generation_job_id == job.id))
            note_uri = await session.scalar(select(Note.uri).where(Note.generation_job_id == job.id))
        if media is not None and media.storage_key:
            out["image"] = urls.media(media.storage_key)
            out["original"] = urls.media(media.original_key) if media.original_key else None
        out["post"] = note_uri
    return out


async def _job(request: Request) -> GenerationJob:
    async with request.app.state.sessions() as session:
        job: GenerationJob | None = await session.scalar(
            select(GenerationJob).where(GenerationJob.token == request.path_params["token"])
        )
    if job is None:
        raise NotFound("no such generation")
    return job


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object, bounded like an inbox body; every value has its field's type."""
    limit = request.app.state.settings.server.max_request_bytes
    try:
        raw = await read_capped(request, limit)
    except BodyTooLarge:
        raise BodyTooLargeError(f"body larger than {limit} bytes") from None
    try:
        body = ap.loads_bounded(raw, BODY_LIMITS)
    except ap.MalformedDocument as exc:
        raise InvalidInput(str(exc)) from None
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    unknown = set(body) - _FIELDS
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))[:200]}")
    guidance = body.get("guidance")
    if guidance is not None and (
        isinstance(guidance, bool) or not isinstance(guidance, int | float) or not -1e6 < guidance < 1e6
    ):
        # An int beyond float range would raise OverflowError in float(); the presets bound it further.
        raise InvalidInput("guidance: expected a number")
    for key, most in _TEXT_LIMITS.items():
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"{key}: expected a string")
        if isinstance(value, str) and len(value) > most:
            raise InvalidInput(f"{key}: at most {most} characters")
    if body.get("post") is not None and not isinstance(body["post"], bool):
        raise InvalidInput("post: expected true or false")
    return body


async def create(request: Request) -> Response:
    body = await _body(request)
    guidance = body.get("guidance")
    settings = request.app.state.settings
    generation_request = jobs.build_request(
        settings,
        body.get("prompt") or "",
        seed=_int(body, "seed"),
        model=body.get("model"),
        negative_prompt=body.get("negative_prompt") or "",
        steps=_int(body, "steps"),
        guidance=float(guidance) if guidance is not None else None,
        width=_int(body, "width"),
        height=_int(body, "height"),
    )
    post = body.get("post", True)
    if post:
        jobs.check_publishable(settings, body.get("text"), body.get("visibility") or "public")
    async with request.app.state.sessions() as session:
        actor = await authenticate(request, session)
        job = await jobs.enqueue(
            session,
            actor,
            generation_request,
            post_text=body.get("text") if post else None,
            visibility=(body.get("visibility") or "public") if post else None,
            quota=settings,
        )
        await session.commit()
    urls: Urls = request.app.state.urls
    payload = await _status(request, job)
    payload.update(status_url=urls.generation(job.token), events_url=urls.generation_events(job.token))
    return JSONResponse(payload, status_code=202)


async def _owned_job(request: Request) -> GenerationJob:
    """The job, for its owner only: its prompt and post may be followers-only or direct, so holding the
    token is not enough (the web UI's EventSource sends the owner's session cookie)."""
    async with request.app.state.sessions() as session:
        try:
            actor = await authenticate(request, session, scope="generate")
        except Forbidden:
            # A C2S client that asked for an image by posting a Note reads its pending post with the
            # token it posted with (FEDERATION.md, "Client to server").
            actor = await authenticate(request, session, scope="read:statuses")
        await session.commit()
    job = await _job(request)
    if job.local_actor_id != actor.id:
        raise NotFound("no such generation")
    return job


async def status(request: Request) -> Response:
    return JSONResponse(await _status(request, await _owned_job(request)))


async def cancel(request: Request) -> Response:
    job = await _job(request)
    async with request.app.state.sessions() as session:
        actor = await authenticate(request, session)
        if actor.id != job.local_actor_id:
            raise NotFound("no such generation")
        if job.state in FINAL_STATES:
            raise Conflict(f"generation already {job.state}")
        await jobs.request_cancel(session, job)
        await session.commit()
    return JSONResponse(await _status(request, await _job(request)), status_code=202)


async def events(request: Request) -> Response:
    """Server-Sent Events: a ``progress`` event on every change, then one ``done`` event.

    The job is read again when the process's ``JobWatch`` sees it change (every ``WATCH_INTERVAL``, one
    query for all open streams), and at least every ``EVENT_POLL`` seconds whatever it sees.
    """
    first = await _owned_job(request)
    watch: JobWatch = request.app.state.job_watch

    async def stream() -> AsyncIterator[str]:
        last: tuple[str, int, int] | None = None
        job = first
        with watch.watch(job.token) as changed:
            while True:
                current = (job.state, job.progress_step, job.progress_total)
                if current != last:
                    last = current
                    data = {"state": job.state, "step": job.progress_step, "total": job.progress_total}
                    yield f"event: progress\ndata: {json.dumps(data)}\n\n"
                if job.state in FINAL_STATES:
                    yield f"event: done\ndata: {json.dumps(await _status(request, job))}\n\n"
                    return
                if await request.is_disconnected():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), EVENT_POLL)
                changed.clear()
                job = await _job(request)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


routes = [
    Route("/api/v1/generations", create, methods=["POST"]),
    Route("/api/v1/generations/{token}", status),
    Route("/api/v1/generations/{token}/events", events),
    Route("/api/v1/generations/{token}/cancel", cancel, methods=["POST"]),
]
