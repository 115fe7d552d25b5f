"""Generation jobs: build a resolved request (explicit seed), queue it, read it back."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.config import Settings
from fediserver.domain.site import effective
from fediserver.errors import InvalidInput, TooManyRequests
from fediserver.jobs import doorbell
from fediserver.models import GENERATION_PURPOSES, VISIBILITIES, GenerationJob, LocalActor, utcnow
from fediserver.text.length import post_length
from generation.errors import InvalidRequest
from generation.presets import resolve_request
from generation.types import GenerationRequest

MAX_PROMPT = 2000
# Bound on any stored post text; the instance's own limit is checked by ``check_publishable``.
MAX_POST_TEXT = 5000


def build_request(
    settings: Settings,
    prompt: str,
    *,
    seed: int | None = None,
    model: str | None = None,
    negative_prompt: str = "",
    steps: int | None = None,
    guidance: float | None = None,
    width: int | None = None,
    height: int | None = None,
) -> GenerationRequest:
    """A request with every default filled (config, then the model's preset) and the seed drawn if absent."""
    if not prompt.strip():
        raise InvalidInput("prompt: required")
    if len(prompt) > MAX_PROMPT:
        raise InvalidInput(f"prompt: at most {MAX_PROMPT} characters")
    gen = settings.generation
    chosen = model or gen.model
    uses_config_model = model is None
    try:
        return resolve_request(
            prompt,
            seed=seed,
            negative_prompt=negative_prompt,
            steps=steps if steps is not None else (gen.steps or None if uses_config_model else None),
            guidance=guidance,
            width=width if width is not None else (gen.width if uses_config_model else None),
            height=height if height is not None else (gen.height if uses_config_model else None),
            model=chosen,
        )
    except (InvalidRequest, ValueError) as exc:
        raise InvalidInput(str(exc)) from None


async def enqueue(
    session: AsyncSession,
    actor: LocalActor,
    request: GenerationRequest,
    *,
    post_text: str | None = None,
    visibility: str | None = None,
    state: str = "queued",
    purpose: str = "post",
    quota: Settings | None,
) -> GenerationJob:
    """Store the job; ``post_text``/``visibility`` set means publish the result as a post.

    ``quota`` is the settings whose ``instance.generation_daily_limit`` (as an admin set it at runtime)
    the owner must be under, else 429 with the reason; None only for the operator's own ``fediserver
    generate``, which renders on the operator's machine, not the instance's GPU.

    ``purpose`` ``avatar`` or ``header`` makes the image the owner's profile image instead.
    """
    if visibility is not None and visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility: one of {', '.join(VISIBILITIES)}")
    if post_text is not None and len(post_text) > MAX_POST_TEXT:
        raise InvalidInput(f"text: at most {MAX_POST_TEXT} characters")
    if purpose not in GENERATION_PURPOSES:
        raise InvalidInput(f"purpose: one of {', '.join(GENERATION_PURPOSES)}")
    if purpose != "post" and visibility is not None:
        raise InvalidInput("a profile image is not posted: give no visibility")
    assert request.is_resolved
    if quota is not None:
        await check_daily_limit(session, quota, actor)
    job = GenerationJob(
        token=secrets.token_hex(16),
        local_actor_id=actor.id,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        seed=request.seed,
        model=request.model,
        scheduler=request.scheduler,
        steps=request.steps,
        guidance=request.guidance,
        width=request.width,
        height=request.height,
        post_text=post_text,
        post_visibility=visibility,
        purpose=purpose,
        state=state,
        next_attempt_at=utcnow(),
        progress_total=request.steps or 0,
    )
    session.add(job)
    await session.flush()
    if state == "queued":
        await doorbell.ring(session, doorbell.GENERATION)
    return job


def check_publishable(settings: Settings, post_text: str | None, visibility: str) -> None:
    """Refuse, before any rendering, a post the job could not publish: a text over the instance's limit.

    Without a text the post says the prompt, cut to fit (``imagegen.results.publish``).
    """
    if visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility: one of {', '.join(VISIBILITIES)}")
    limit = settings.instance.max_characters
    if post_text and post_length(post_text, allow_ports=settings.instance.scheme == "http") > limit:
        raise InvalidInput(f"text: at most {limit} characters (a link counts as 23)")


def job_request(job: GenerationJob) -> GenerationRequest:
    return GenerationRequest(
        prompt=job.prompt,
        seed=job.seed,
        negative_prompt=job.negative_prompt,
        steps=job.steps,
        guidance=job.guidance,
        width=job.width,
        height=job.height,
        model=job.model,
        scheduler=job.scheduler,
    )


async def request_cancel(session: AsyncSession, job: GenerationJob) -> None:
    """Cancel a queued job at once, a running one at its next denoising step; the caller commits."""
    await session.execute(
        update(GenerationJob)
        .where(GenerationJob.id == job.id, GenerationJob.state == "queued")
        .values(state="cancelled", finished_at=utcnow(), last_error="cancelled before it started")
    )
    await session.execute(update(GenerationJob).where(GenerationJob.id == job.id).values(cancel_requested=True))


async def check_daily_limit(session: AsyncSession, settings: Settings, actor: LocalActor) -> None:
    """429 when ``actor`` has asked for ``generation_daily_limit`` images since midnight UTC (0: no limit)."""
    limit = (await effective(session, settings)).instance.generation_daily_limit
    if limit <= 0:
        return
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    used = await session.scalar(
        select(func.count())
        .select_from(GenerationJob)
        .where(GenerationJob.local_actor_id == actor.id, GenerationJob.created_at >= midnight)
    )
    if (used or 0) >= limit:
        raise TooManyRequests(f"daily generation limit reached: {limit} images a day; try again after midnight UTC")
