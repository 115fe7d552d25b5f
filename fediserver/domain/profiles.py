"""Profiles: name, bio, avatar and header, fields with rel=me verification, locks and flags, pins.

Any change is sent to followers as ``Update(Person)`` (checklist 51). Limits are Mastodon's
(``Account`` validations): display name 30 characters, bio 500, 4 fields of 255 characters each, 5 pins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.domain import link_checks, sent
from fediserver.domain.mentions import resolve_mentions
from fediserver.domain.services import Services
from fediserver.errors import Conflict, InvalidInput, NotFound
from fediserver.federation import outbound
from fediserver.federation.context import Federation
from fediserver.federation.render import actor_to_as
from fediserver.media import MediaLimits, ingest_upload
from fediserver.models import DeliveryJob, LocalActor, Note, Pin, utcnow
from fediserver.text.entities import extract
from fediserver.text.formatter import render

JSON = dict[str, Any]
MAX_DISPLAY_NAME = 30
MAX_BIO = 500
MAX_FIELDS = 4
MAX_FIELD_LENGTH = 255
MAX_PINS = 5


@dataclass(frozen=True)
class ProfileChange:
    """What to change; ``None`` leaves a property as it is. Images are the uploaded file's bytes."""

    display_name: str | None = None
    bio: str | None = None
    avatar: bytes | None = None
    header: bytes | None = None
    fields: list[tuple[str, str]] | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    indexable: bool | None = None


async def bio_to_html(svc: Services, session: AsyncSession, text: str) -> str:
    """A bio rendered as a post is (Mastodon's formatter: links, resolved mentions, hashtags)."""
    allow_ports = svc.fed.webfinger_scheme == "http"
    entities = extract(text, allow_ports=allow_ports)
    accounts = await resolve_mentions(svc.fed, session, entities)
    return render(
        text, accounts, svc.urls.tag, local_domain=svc.urls.domain, entities=entities, allow_ports=allow_ports
    ).html


def _check_fields(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if len(fields) > MAX_FIELDS:
        raise InvalidInput(f"fields: at most {MAX_FIELDS}")
    checked = []
    for name, value in fields:
        name, value = name.strip(), value.strip()
        if not name:
            raise InvalidInput("fields: a field needs a name")
        if len(name) > MAX_FIELD_LENGTH or len(value) > MAX_FIELD_LENGTH:
            raise InvalidInput(f"fields: names and values of at most {MAX_FIELD_LENGTH} characters")
        checked.append((name, value))
    return checked


def _store_image(svc: Services, data: bytes, what: str) -> tuple[str, str]:
    """Stored like every upload: cleaned of personal metadata (``media.ingest_upload``)."""
    try:
        stored = ingest_upload(svc.store, data, MediaLimits.from_settings(svc.settings.media))
    except InvalidInput as exc:
        raise InvalidInput(f"{what}: {exc.message}") from None
    return stored.storage_key, stored.media_type


def _apply(svc: Services, actor: LocalActor, change: ProfileChange, bio_html: str | None) -> None:
    if change.display_name is not None:
        if len(change.display_name) > MAX_DISPLAY_NAME:
            raise InvalidInput(f"display name: at most {MAX_DISPLAY_NAME} characters")
        actor.display_name = change.display_name.strip()
    if change.bio is not None:
        if len(change.bio) > MAX_BIO:
            raise InvalidInput(f"bio: at most {MAX_BIO} characters")
        actor.summary = bio_html or ""
    if change.avatar is not None:
        actor.avatar_key, actor.avatar_media_type = _store_image(svc, change.avatar, "avatar")
    if change.header is not None:
        actor.header_key, actor.header_media_type = _store_image(svc, change.header, "header")
    if change.fields is not None:
        old = {(f["name"], f["value"]): f.get("verified_at") for f in actor.fields}
        # A field keeps its verification only while its value is unchanged.
        actor.fields = [
            {"name": n, "value": v, "verified_at": old.get((n, v))} for n, v in _check_fields(change.fields)
        ]
    if change.locked is not None:
        actor.manually_approves_followers = change.locked
    if change.bot is not None:
        actor.actor_type = "Service" if change.bot else "Person"
    if change.discoverable is not None:
        actor.discoverable = change.discoverable
    if change.indexable is not None:
        actor.indexable = change.indexable


async def update_profile(
    svc: Services, session: AsyncSession, actor: LocalActor, change: ProfileChange
) -> list[DeliveryJob]:
    """Apply ``change`` and send ``Update(Person)`` to followers; the caller commits. The bio is kept as
    typed (``summary_source``) beside its HTML; changed fields queue a rel=me check for the worker
    (``fediserver.domain.link_checks``)."""
    if actor.deleted_at is not None:
        raise NotFound(f"{actor.username} is deleted")
    bio_html = await bio_to_html(svc, session, change.bio) if change.bio is not None else None
    _apply(svc, actor, change, bio_html)
    if change.bio is not None:
        actor.summary_source = change.bio
    actor.updated_at = utcnow()
    await session.flush()
    if change.fields is not None:
        await link_checks.queue_link_check(session, actor)
    return await send_update(svc.fed, session, actor)


async def send_update(fed: Federation, session: AsyncSession, actor: LocalActor) -> list[DeliveryJob]:
    """``Update`` of the actor document, public, to every follower's inbox (checklist 51)."""
    doc = actor_to_as(actor, fed.urls)
    stamp = int(utcnow().timestamp() * 1000)
    activity = ap.update(id=f"{doc['id']}#updates/{stamp}", actor=doc["id"], object=doc, to=[ap.PUBLIC])
    return await outbound.to_followers(fed, session, activity, actor)


async def use_generated_image(
    fed: Federation, session: AsyncSession, actor: LocalActor, purpose: str, storage_key: str, media_type: str
) -> list[DeliveryJob]:
    """A generated image (``purpose`` ``avatar`` or ``header``) becomes the profile's; followers told."""
    if purpose == "avatar":
        actor.avatar_key, actor.avatar_media_type = storage_key, media_type
    elif purpose == "header":
        actor.header_key, actor.header_media_type = storage_key, media_type
    else:
        raise ValueError(f"not a profile image purpose: {purpose!r}")
    actor.updated_at = utcnow()
    await session.flush()
    return await send_update(fed, session, actor)


async def _own_note(svc: Services, session: AsyncSession, actor: LocalActor, uri: str) -> Note:
    note = await session.scalar(
        select(Note).where(Note.uri == uri, Note.local_actor_id == actor.id, Note.deleted_at.is_(None))
    )
    if note is None:
        raise NotFound(f"{uri} is not a post of {actor.username}")
    return note


def _featured_activity(svc: Services, actor: LocalActor, kind: str, note: Note) -> JSON:
    me = svc.urls.actor(actor.username)
    return {
        "@context": ap.AS_CONTEXT,
        "id": sent.new_id(svc.urls, actor, kind.lower()),
        "type": kind,
        "actor": me,
        "object": note.uri,
        "target": svc.urls.featured(actor.username),
        "to": [ap.PUBLIC],
    }


async def pin(svc: Services, session: AsyncSession, actor: LocalActor, note_uri: str) -> Pin:
    """Pin one of the actor's public or unlisted posts (at most 5); followers get ``Add`` to ``featured``."""
    note = await _own_note(svc, session, actor, note_uri)
    if note.visibility not in ("public", "unlisted"):
        raise InvalidInput("only public and unlisted posts can be pinned")
    existing = await session.scalar(select(Pin).where(Pin.local_actor_id == actor.id, Pin.note_id == note.id))
    if existing is not None:
        return existing
    count = await session.scalar(select(func.count()).select_from(Pin).where(Pin.local_actor_id == actor.id)) or 0
    if count >= MAX_PINS:
        raise Conflict(f"at most {MAX_PINS} pinned posts")
    row = Pin(local_actor_id=actor.id, note_id=note.id)
    session.add(row)
    await session.flush()
    activity = _featured_activity(svc, actor, "Add", note)
    sent.remember(session, actor, note, activity)
    await outbound.to_followers(svc.fed, session, activity, actor)
    return row


async def unpin(svc: Services, session: AsyncSession, actor: LocalActor, note_uri: str) -> None:
    note = await _own_note(svc, session, actor, note_uri)
    row = await session.scalar(select(Pin).where(Pin.local_actor_id == actor.id, Pin.note_id == note.id))
    if row is None:
        raise NotFound(f"{note_uri} is not pinned")
    await session.delete(row)
    activity = _featured_activity(svc, actor, "Remove", note)
    sent.remember(session, actor, note, activity)
    await outbound.to_followers(svc.fed, session, activity, actor)


async def pinned_notes(session: AsyncSession, actor: LocalActor) -> list[Note]:
    """The actor's pinned posts, most recently pinned first."""
    rows = await session.scalars(
        select(Note)
        .join(Pin, Pin.note_id == Note.id)
        .where(Pin.local_actor_id == actor.id, Note.deleted_at.is_(None))
        .order_by(Pin.created_at.desc(), Pin.id.desc())
    )
    return list(rows)


async def pinned_among(session: AsyncSession, actor: LocalActor, note_ids: list[int]) -> set[int]:
    """Which of ``note_ids`` the actor has pinned (one query, for a whole page)."""
    if not note_ids:
        return set()
    rows = await session.scalars(select(Pin.note_id).where(Pin.local_actor_id == actor.id, Pin.note_id.in_(note_ids)))
    return set(rows)
