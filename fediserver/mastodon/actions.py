"""The social operations the client API performs, as thin adapters over what exists today.

Every write the API makes goes through here, so the domain layer (``fediserver.domain.posts``,
``relations``, ``accounts`` from the social-core issue) can replace these bodies without touching the
routes. Statuses are built with ``fediserver.posting``'s helpers (it has no spoiler text nor media ids yet)
and published with ``federation.publishing``; follows use ``federation.following``.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.domain.services import Services
from fediserver.errors import InvalidInput, NotAvailable
from fediserver.federation import following, publishing
from fediserver.federation.convert import attachments_to_models, note_to_model
from fediserver.federation.remote import fetch_document, get_actor
from fediserver.media import inspect_image
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
from fediserver.posting import MAX_TEXT, addressing, new_object_key, text_to_html

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
    """A new local status, stored and queued for delivery; the caller commits."""
    actor = user.actor
    if not text.strip() and not media:
        raise InvalidInput("Validation failed: Text can't be blank")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"Validation failed: Text character limit of {MAX_TEXT} exceeded")
    if len(media) > MAX_MEDIA:
        raise InvalidInput(f"Validation failed: at most {MAX_MEDIA} media attachments")
    if visibility == "direct":
        raise NotAvailable("direct visibility needs mentions, which arrive with the social-core issue")
    urls = services.urls
    mentions = [in_reply_to.attributed_to] if in_reply_to is not None else []
    address = addressing(visibility, urls.followers(actor.username), mentions)
    key = new_object_key()
    note = Note(
        uri=urls.note(key),
        url=urls.note(key),
        local_actor_id=actor.id,
        attributed_to=urls.actor(actor.username),
        content=text_to_html(text),
        source_text=text,
        summary=spoiler_text or None,
        sensitive=sensitive or bool(spoiler_text),
        visibility=visibility,
        to=address.to,
        cc=address.cc,
        in_reply_to_uri=in_reply_to.uri if in_reply_to is not None else None,
    )
    session.add(note)
    await session.flush()
    for position, item in enumerate(media):
        item.note_id, item.position = note.id, position
        # A generation attached by media_ids keeps its provenance on the status (issue 10 point 5).
        if item.generation_job_id is not None and note.generation_job_id is None:
            note.generation_job_id = item.generation_job_id
    if idempotency_key:
        session.add(StatusIdempotencyKey(user_id=user.id, key=idempotency_key[:255], note_id=note.id))
    await session.flush()
    await publishing.publish_note(services.fed, session, actor, note)
    return note


async def delete_status(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> None:
    await publishing.delete_note(services.fed, session, actor, note)


async def upload_media(
    services: Services,
    session: AsyncSession,
    actor: LocalActor,
    data: bytes,
    description: str,
    focus: tuple[float, float],
) -> MediaAttachment:
    """An image not yet attached to a status (``note_id`` is None until ``create_status``)."""
    info = inspect_image(data)
    key = services.store.put(data, info.media_type)
    row = MediaAttachment(
        local_actor_id=actor.id,
        storage_key=key,
        media_type=info.media_type,
        width=info.width,
        height=info.height,
        size_bytes=len(data),
        description=description,
        focus_x=focus[0],
        focus_y=focus[1],
    )
    session.add(row)
    await session.flush()
    return row


async def favourite(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> None:
    me = services.urls.actor(actor.username)
    if await session.scalar(select(Like.id).where(Like.actor_uri == me, Like.note_uri == note.uri)):
        return
    session.add(Like(activity_uri=f"{me}#likes/{note.id}", actor_uri=me, note_uri=note.uri))
    if note.local_actor_id is None:
        await publishing.like(services.fed, session, actor, note)


async def unfavourite(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> None:
    # Undo(Like) to the remote author arrives with the social-core issue; the local record goes now.
    me = services.urls.actor(actor.username)
    await session.execute(delete(Like).where(Like.actor_uri == me, Like.note_uri == note.uri))


async def reblog(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> None:
    me = services.urls.actor(actor.username)
    if await session.scalar(select(Announce.id).where(Announce.actor_uri == me, Announce.note_uri == note.uri)):
        return
    session.add(Announce(activity_uri=f"{me}#announces/{note.id}", actor_uri=me, note_uri=note.uri))
    if note.local_actor_id is None:
        await publishing.announce(services.fed, session, actor, note)


async def unreblog(services: Services, session: AsyncSession, actor: LocalActor, note: Note) -> None:
    me = services.urls.actor(actor.username)
    await session.execute(delete(Announce).where(Announce.actor_uri == me, Announce.note_uri == note.uri))


async def follow(services: Services, session: AsyncSession, actor: LocalActor, target: RemoteActor) -> Follow:
    return await following.follow(services.fed, session, actor, target.uri)


async def unfollow(services: Services, session: AsyncSession, actor: LocalActor, target: RemoteActor) -> None:
    await following.unfollow(services.fed, session, actor, target.uri)


async def resolve_account(services: Services, session: AsyncSession, handle_or_url: str) -> RemoteActor:
    """WebFinger for ``user@host``, or an actor URL, fetched and cached."""
    return await following.resolve_account(services.fed, session, handle_or_url)


async def fetch_remote_actor(services: Services, session: AsyncSession, uri: str) -> RemoteActor:
    return await get_actor(services.fed, session, uri)


async def fetch_note(services: Services, session: AsyncSession, url: str) -> Note | None:
    """A post fetched by its URL (search with ``resolve=true``) and cached; None if it is not a public Note."""
    existing = await session.scalar(select(Note).where((Note.uri == url) | (Note.url == url)))
    if existing is not None:
        return existing
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
