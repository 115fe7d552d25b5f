"""The social operations the client API performs: Mastodon's conventions over the domain layer.

Every write the API makes goes through here and into ``fediserver.domain`` (posts, reactions,
relations), the same functions the CLI, the web UI and C2S call; what is left here is Mastodon's shape
(idempotent favourite and reblog, Idempotency-Key, media uploaded before the status).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.domain import posts, reactions, relations
from fediserver.domain.services import Services
from fediserver.errors import InvalidInput
from fediserver.federation import following
from fediserver.federation.convert import attachments_to_models, note_to_model
from fediserver.federation.remote import fetch_document, get_actor
from fediserver.media import MediaLimits, ingest_upload
from fediserver.models import (
    Announce,
    Follow,
    Like,
    LocalActor,
    MediaAttachment,
    Note,
    RemoteActor,
    StatusIdempotencyKey,
    User,
    utcnow,
)
from fediserver.notes import may_see

IDEMPOTENCY_WINDOW = timedelta(hours=1)
MAX_MEDIA = 4


async def idempotent_status(session: AsyncSession, user: User, key: str) -> Note | None:
    """The status already made with this ``Idempotency-Key`` in the last hour, if any."""
    row = await session.scalar(
        select(StatusIdempotencyKey).where(
            StatusIdempotencyKey.user_id == user.id,
            StatusIdempotencyKey.key == key,
            StatusIdempotencyKey.created_at > utcnow() - IDEMPOTENCY_WINDOW,
        )
    )
    return await session.get(Note, row.note_id) if row is not None else None


async def create_status(
    services: Services,
    session: AsyncSession,
    user: User,
    *,
    text: str,
    media: list[MediaAttachment],
    visibility: str,
    spoiler_text: str,
    sensitive: bool,
    in_reply_to: Note | None,
    idempotency_key: str | None,
) -> Note:
    """A new local status through the domain's ``publish_post``, stored and queued; the caller commits."""
    if len(media) > MAX_MEDIA:
        raise InvalidInput(f"Validation failed: at most {MAX_MEDIA} media attachments")
    draft = posts.PostDraft(
        text=text,
        visibility=visibility,
        summary=spoiler_text,
        sensitive=sensitive,
        in_reply_to=in_reply_to.uri if in_reply_to is not None else None,
    )
    # A generation attached by media_ids keeps its provenance on the status (issue 10 point 5).
    generation = next((m.generation_job_id for m in media if m.generation_job_id is not None), None)
    note = await posts.publish_post(services, session, user.actor, draft, media=media, generation_job_id=generation)
    if idempotency_key:
        session.add(StatusIdempotencyKey(user_id=user.id, key=idempotency_key[:255], note_id=note.id))
        await session.flush()
    return note


async def delete_status(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> None:
    await posts.delete_post(services, session, actor, note.uri)


async def upload_media(
    services: Services,
    session: AsyncSession,
    actor: LocalActor,
    data: bytes,
    description: str,
    focus: tuple[float, float],
) -> MediaAttachment:
    """An image not yet attached to a status (``note_id`` is None until ``create_status``).

    Stored like every upload: re-encoded without personal metadata, with a thumbnail and a blurhash.
    """
    limits = MediaLimits.from_settings(services.settings.media)
    image = await asyncio.to_thread(ingest_upload, services.store, data, limits)
    row = posts.attachment_for(actor, image, description, focus)
    session.add(row)
    await session.flush()
    return row


async def _liked(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> bool:
    me = services.urls.actor(actor.username)
    return await session.scalar(select(Like.id).where(Like.actor_uri == me, Like.note_uri == note.uri)) is not None


async def _boosted(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> bool:
    me = services.urls.actor(actor.username)
    found = await session.scalar(select(Announce.id).where(Announce.actor_uri == me, Announce.note_uri == note.uri))
    return found is not None


# Mastodon's favourite and reblog endpoints are idempotent: a repeat answers with the status.
async def favourite(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> None:
    if not await _liked(services, session, actor, note):
        await reactions.like(services, session, actor, note.uri)


async def unfavourite(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> None:
    if await _liked(services, session, actor, note):
        await reactions.unlike(services, session, actor, note.uri)


async def reblog(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> None:
    if not await _boosted(services, session, actor, note):
        await reactions.boost(services, session, actor, note.uri)


async def unreblog(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> None:
    if await _boosted(services, session, actor, note):
        await reactions.unboost(services, session, actor, note.uri)


async def follow(services: Services, session: AsyncSession, actor: LocalActor, target_uri: str) -> Follow:
    """Follow a local or remote account by its actor id (``domain.relations.follow``)."""
    return await relations.follow(services, session, actor, target_uri)


async def unfollow(services: Services, session: AsyncSession, actor: LocalActor, target_uri: str) -> None:
    await relations.unfollow(services, session, actor, target_uri)


async def resolve_account(services: Services, session: AsyncSession, handle_or_url: str) -> RemoteActor:
    """WebFinger for ``user@host``, or an actor URL, fetched and cached."""
    return await following.resolve_account(services.fed, session, handle_or_url)


async def fetch_remote_actor(services: Services, session: AsyncSession, uri: str) -> RemoteActor:
    return await get_actor(services.fed, session, uri)


async def fetch_note(services: Services, session: AsyncSession, url: str, viewer_uri: str) -> Note | None:
    """A post found or fetched by its URL (search with ``resolve=true``) and cached; None if it is not a
    public Note, or if it is already stored and ``viewer_uri`` may not see it (``notes.may_see``)."""
    existing = await session.scalar(
        select(Note).where((Note.uri == url) | (Note.url == url), Note.deleted_at.is_(None)).limit(1)
    )
    if existing is not None:
        # A followers-only or direct post is found by its URL only by whoever may read it (issue 8).
        return existing if await may_see(session, existing, viewer_uri) else None
    try:
        doc = await fetch_document(services.fed, session, url)
        if doc.get("type") != "Note":
            return None
        author = await get_actor(services.fed, session, ap.get_id(doc.get("attributedTo")) or "")
        note = note_to_model(doc, author)
    except ap.ActivityPubError:
        return None
    if note.visibility not in ("public", "unlisted"):
        return None
    if (found := await session.scalar(select(Note).where(Note.uri == note.uri))) is not None:
        return found
    note.attachments = attachments_to_models(doc)
    session.add(note)
    await session.flush()
    return note
