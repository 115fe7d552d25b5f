"""Every call the web UI makes into the social core, in one module.

Writes go to the domain layer (``fediserver.domain``: posts, reactions, relations), the same functions
the CLI, the Mastodon API and C2S call; what is here is the browser's shape of them (alt text required,
idempotent like); the feeds are ``fediserver.domain.timelines``. The few queries written here
(moderation lists) have no home in the core yet.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver import accounts
from fediserver.config import RegistrationMode
from fediserver.domain import posts, reactions, relations, timelines
from fediserver.domain.services import Services
from fediserver.domain.tags import MAX_TAG_LENGTH
from fediserver.errors import Conflict, InvalidInput, NotFound, Suspended
from fediserver.imagegen import jobs, results
from fediserver.media import MediaLimits, ingest_upload
from fediserver.models import (
    DomainBlock,
    GenerationJob,
    Like,
    LocalActor,
    MediaAttachment,
    Note,
    User,
)
from fediserver.web.strings import STRINGS

FEED_SIZE = 40
PUBLIC = ("public",)
LISTED = ("public", "unlisted")


async def local_feed(
    session: AsyncSession, *, before: int | None = None, limit: int = FEED_SIZE, reader: timelines.Reader | None = None
) -> list[Note]:
    """Public posts by this instance's users, newest first; ``before`` is a note id (keyset paging)."""
    return await timelines.public(session, reader, timelines.Newest(limit, before), local=True)


async def federated_feed(
    session: AsyncSession, *, before: int | None = None, limit: int = FEED_SIZE, reader: timelines.Reader | None = None
) -> list[Note]:
    """Every public post this instance knows, local and remote, newest first."""
    return await timelines.public(session, reader, timelines.Newest(limit, before))


async def home_feed(services: Services, session: AsyncSession, me: LocalActor) -> list[Note]:
    """The home timeline (``fediserver.domain.timelines.home``); a boost shows the boosted post."""
    reader = timelines.Reader(actor=me, uri=services.urls.actor(me.username))
    entries = await timelines.home(session, reader, timelines.Newest(FEED_SIZE))
    return [e.note for e in entries]


async def tag_feed(
    session: AsyncSession,
    tag: str,
    *,
    before: int | None = None,
    limit: int = FEED_SIZE,
    reader: timelines.Reader | None = None,
) -> list[Note]:
    """Public posts with the hashtag (the ``tags`` index), newest first."""
    if not tag.replace("_", "").isalnum() or len(tag) > MAX_TAG_LENGTH:
        raise NotFound("no such tag")
    return await timelines.tag(session, reader, tag, timelines.Newest(limit, before))


async def profile(session: AsyncSession, username: str) -> LocalActor:
    actor = await accounts.get_user_actor(session, username)
    if actor.suspended_at is not None:
        raise Suspended(STRINGS["account_suspended"])
    return actor


async def profile_posts(services: Services, session: AsyncSession, actor: LocalActor, *, limit: int = 60) -> list[Note]:
    """The account's public and unlisted posts as anyone sees them (``fediserver.domain.timelines.account``)."""
    author = services.urls.actor(actor.username)
    return await timelines.account(session, None, author, timelines.Newest(limit))


async def note_by_id(session: AsyncSession, note_id: int) -> Note:
    note = await session.get(Note, note_id)
    if note is None or note.deleted_at is not None:
        raise NotFound("no such post")
    return note


async def sign_up(session: AsyncSession, mode: RegistrationMode, username: str, password: str) -> User:
    """A new user per the registration mode: usable at once when open, waiting for a moderator on approval."""
    if mode == "closed":
        raise InvalidInput("sign-ups are closed")
    if mode == "invite":
        raise InvalidInput("sign-ups are by invite only: ask a member for an invite link")
    user = await accounts.create_user(session, username, password)
    user.is_approved = mode == "open"
    return user


async def write_post(
    services: Services,
    session: AsyncSession,
    me: LocalActor,
    text: str,
    *,
    visibility: str,
    image: bytes | None,
    alt: str,
    summary: str,
    sensitive: bool,
    assisted: bool = False,
) -> Note:
    if image is not None and not alt.strip():
        raise InvalidInput("alt: describe the image")
    stored = None
    if image is not None:
        limits = MediaLimits.from_settings(services.settings.media)
        stored = await asyncio.to_thread(ingest_upload, services.store, image, limits)
    draft = posts.PostDraft(
        text=text,
        visibility=visibility,
        image=stored,
        alt=alt,
        summary=summary,
        sensitive=sensitive,
        assisted=assisted,
    )
    return await posts.publish_post(services, session, me, draft)


async def start_generation(
    services: Services, session: AsyncSession, me: LocalActor, prompt: str, seed: int | None, purpose: str = "post"
) -> GenerationJob:
    """Queue a generation; ``purpose`` ``avatar`` or ``header`` makes the worker put the image on the profile."""
    request = jobs.build_request(services.settings, prompt, seed=seed)
    return await jobs.enqueue(session, me, request, purpose=purpose, quota=services.settings)


async def start_batch(
    services: Services, session: AsyncSession, me: LocalActor, prompt: str, seed: int | None, count: int
) -> list[GenerationJob]:
    """``count`` generations of one prompt with consecutive seeds (random start if none): the worker
    claims compatible jobs together and renders them as one batch (``GenerationWorker.claim_batch``)."""
    first = seed if seed is not None else secrets.randbelow(2**32 - count)
    return [await start_generation(services, session, me, prompt, first + i) for i in range(count)]


async def retry_generation(
    services: Services, session: AsyncSession, me: LocalActor, job: GenerationJob
) -> GenerationJob:
    """The same prompt and settings with a fresh seed."""
    request = jobs.build_request(
        services.settings,
        job.prompt,
        seed=secrets.randbelow(2**32),
        model=job.model,
        negative_prompt=job.negative_prompt,
        steps=job.steps,
        guidance=job.guidance,
        width=job.width,
        height=job.height,
    )
    return await jobs.enqueue(session, me, request, quota=services.settings)


async def my_generation(
    session: AsyncSession, me: LocalActor, token: str
) -> tuple[GenerationJob, MediaAttachment | None, Note | None]:
    job = await session.scalar(select(GenerationJob).where(GenerationJob.token == token))
    if job is None or job.local_actor_id != me.id:
        raise NotFound("no such generation")
    media = await session.scalar(select(MediaAttachment).where(MediaAttachment.generation_job_id == job.id))
    note = await session.scalar(select(Note).where(Note.generation_job_id == job.id, Note.deleted_at.is_(None)))
    return job, media, note


async def cancel_generation(session: AsyncSession, job: GenerationJob) -> None:
    if job.state in ("done", "failed", "cancelled"):
        raise Conflict(f"generation already {job.state}")
    await jobs.request_cancel(session, job)


async def publish_generation(
    services: Services,
    session: AsyncSession,
    me: LocalActor,
    token: str,
    *,
    text: str,
    alt: str,
    visibility: str,
    summary: str,
    sensitive: bool,
) -> Note:
    job, media, note = await my_generation(session, me, token)
    if note is not None:
        raise Conflict("this image is already posted")
    if job.state != "done" or media is None:
        raise Conflict("the image is not ready yet")
    if not alt.strip():
        raise InvalidInput("alt: describe the image")
    job.post_text, job.post_visibility = text or None, visibility
    media.description = alt
    return await results.publish(
        services.fed, session, services.store, me, job, media, summary=summary or None, sensitive=sensitive
    )


async def delete_post(services: Services, session: AsyncSession, me: LocalActor, note: Note) -> None:
    if note.local_actor_id != me.id:
        raise NotFound("no such post")
    await posts.delete_post(services, session, me, note.uri)


async def like(services: Services, session: AsyncSession, me: LocalActor, note: Note) -> None:
    """Favourite the post (``domain.reactions.like``); liking it again changes nothing."""
    me_uri = services.urls.actor(me.username)
    if await session.scalar(select(Like.id).where(Like.actor_uri == me_uri, Like.note_uri == note.uri)):
        return
    await reactions.like(services, session, me, note.uri)


async def follow(services: Services, session: AsyncSession, me: LocalActor, account: str) -> None:
    await relations.follow(services, session, me, account)


async def pending_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).where(User.is_approved.is_(False)).order_by(User.id)))


async def decide_registration(session: AsyncSession, user_id: int, *, approve: bool) -> None:
    user = await session.get(User, user_id)
    if user is None or user.is_approved:
        raise NotFound("no such registration")
    if approve:
        user.is_approved = True
        return
    actor = user.actor
    await session.delete(user)
    await session.flush()
    await session.delete(actor)


async def domain_blocks(session: AsyncSession) -> list[DomainBlock]:
    return list(await session.scalars(select(DomainBlock).order_by(DomainBlock.domain)))


async def block_domain(services: Services, session: AsyncSession, domain: str, reason: str) -> None:
    """As ``fediserver domain block`` does (``domain.relations.block_domain``)."""
    await relations.block_domain(services, session, domain, reason)


async def unblock_domain(services: Services, session: AsyncSession, domain: str) -> None:
    await relations.unblock_domain(services, session, domain)


@dataclass(frozen=True)
class GpuState:
    queued: int
    running: GenerationJob | None


async def gpu_state(session: AsyncSession) -> GpuState:
    queued = await session.scalar(
        select(func.count()).select_from(GenerationJob).where(GenerationJob.state == "queued")
    )
    running = await session.scalar(
        select(GenerationJob).where(GenerationJob.state == "running").order_by(GenerationJob.started_at).limit(1)
    )
    return GpuState(queued=queued or 0, running=running)
