"""Writing-help requests: parse and check them once, enforce the switches and daily limits, queue them.

The web API, the web UI and C2S all enqueue through :func:`enqueue`; the CLI runs the same
:class:`~generation.assist.AssistRequest` in its own process.
"""

from __future__ import annotations

import secrets
from datetime import datetime, time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.config import AssistSettings, Settings
from fediserver.domain.site import effective
from fediserver.errors import AppError, InvalidInput
from fediserver.jobs import doorbell
from fediserver.models import AssistJob, LocalActor, utcnow
from generation.assist import AssistKind, AssistRequest, validate
from generation.errors import InvalidRequest

FEATURE_OF: dict[str, str] = {"alt_text": "alt_text", "rewrite": "rewrite", "prompt": "prompt", "hashtags": "prompt"}
MAX_IMAGE_BYTES = 10 * 1024 * 1024
SEED_LIMIT = 2**31


class FeatureOff(AppError):
    status_code = 403


class DailyLimit(AppError):
    status_code = 429


def model_for(settings: AssistSettings, kind: str) -> str:
    return settings.caption_model if kind == "alt_text" else settings.text_model


def check_enabled(settings: AssistSettings, kind: str) -> None:
    feature = FEATURE_OF[kind]
    if not settings.enabled or not getattr(settings, feature):
        raise FeatureOff(f"writing help ({feature.replace('_', ' ')}) is switched off on this instance")


def build(
    settings: AssistSettings,
    kind: AssistKind,
    *,
    text: str = "",
    image: bytes | None = None,
    style: str | None = None,
    language: str | None = None,
    target_model: str | None = None,
    seed: int | None = None,
) -> AssistRequest:
    """A validated request (seed drawn when absent); InvalidInput (422) with the reason otherwise."""
    check_enabled(settings, kind)
    if image is not None and len(image) > MAX_IMAGE_BYTES:
        raise InvalidInput(f"image: at most {MAX_IMAGE_BYTES} bytes")
    if seed is not None and not 0 <= seed < SEED_LIMIT:
        raise InvalidInput(f"seed: between 0 and {SEED_LIMIT - 1}")
    try:
        return validate(
            AssistRequest(
                kind=kind,
                text=text,
                image=image,
                style=style or "clearer",
                language=language or None,
                target_model=target_model,
                max_new_tokens=settings.max_new_tokens,
                seed=secrets.randbelow(SEED_LIMIT) if seed is None else seed,
            )
        )
    except InvalidRequest as exc:
        raise InvalidInput(str(exc)) from None


def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)


async def enqueue(session: AsyncSession, config: Settings, actor: LocalActor, request: AssistRequest) -> AssistJob:
    """Store the job (the caller commits); 429 once the user has used the day's allowance (UTC days):
    ``assist.daily_limit`` as an admin set it at runtime (``domain.site``), else the config file's."""
    now = utcnow()
    settings = (await effective(session, config)).assist
    if settings.daily_limit > 0:
        used = await session.scalar(
            select(func.count())
            .select_from(AssistJob)
            .where(AssistJob.local_actor_id == actor.id, AssistJob.created_at >= _day_start(now))
        )
        if (used or 0) >= settings.daily_limit:
            raise DailyLimit(f"writing help: the limit of {settings.daily_limit} requests a day is reached")
    job = AssistJob(
        token=secrets.token_hex(16),
        local_actor_id=actor.id,
        kind=request.kind,
        input_text=request.text,
        image=request.image,
        params={
            "style": request.style,
            "language": request.language,
            "target_model": request.target_model,
            "max_new_tokens": request.max_new_tokens,
        },
        model=model_for(settings, request.kind),
        seed=request.seed,
        state="queued",
        next_attempt_at=now,
        created_at=now,
    )
    session.add(job)
    await session.flush()
    await doorbell.ring(session, doorbell.ASSIST)
    return job


def job_request(job: AssistJob) -> AssistRequest:
    params = job.params or {}
    return AssistRequest(
        kind=job.kind,  # type: ignore[arg-type]
        text=job.input_text,
        image=job.image,
        style=str(params.get("style") or "clearer"),
        language=params.get("language"),
        target_model=params.get("target_model"),
        max_new_tokens=int(params.get("max_new_tokens") or 120),
        seed=job.seed,
    )
