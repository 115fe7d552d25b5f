"""A batch of generations of one prompt (compose's "generate four to pick from"): a tile per job with its
live progress; each finished image links to its job page, where it is published (or used on the profile)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from fediserver.errors import NotFound
from fediserver.models import GenerationJob
from fediserver.web import actions
from fediserver.web.context import page, render, require_viewer
from fediserver.web.pages import services

MAX_JOBS = 4
TOKEN = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Tile:
    job: GenerationJob
    percent: int
    image: str | None
    events_url: str


def _percent(job: GenerationJob) -> int:
    total = job.progress_total or job.steps
    return 100 if job.state == "done" else (100 * job.progress_step // total if total else 0)


@page
async def batch(request: Request) -> Response:
    """The viewer's own jobs named in ``?jobs=`` (comma-separated tokens, at most four); others are 404."""
    who = await require_viewer(request)
    tokens = [t for t in request.query_params.get("jobs", "").split(",") if t]
    if not 0 < len(tokens) <= MAX_JOBS or not all(TOKEN.fullmatch(t) for t in tokens):
        raise NotFound("no such batch")
    urls = services(request).urls
    tiles = []
    async with request.app.state.sessions() as session:
        for token in tokens:
            job, media, _ = await actions.my_generation(session, who.actor, token)
            image = urls.media(media.storage_key) if media is not None and media.storage_key else None
            tiles.append(Tile(job, _percent(job), image, urls.generation_events(job.token)))
    return await render(request, "batch.html", tiles=tiles, prompt=tiles[0].job.prompt)
