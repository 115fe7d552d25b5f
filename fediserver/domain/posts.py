"""Posts: publish, edit and delete, with Mastodon's text, addressing and delivery rules.

A post's text is rendered as Mastodon renders it (``fediserver.text``); every mentioned account, and
the author of the post replied to, is addressed (``cc`` for public, unlisted and followers-only posts,
``to`` for direct ones, federation.md checklist 13 and 14) and tagged ``Mention``; hashtags become
``Hashtag`` tags and are indexed. Delivery goes to the author's followers and to every addressed
inbox, except for a direct post, which goes to its addressees only.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

import activitypub as ap
from fediserver.domain import streams
from fediserver.domain.mentions import local_account, resolve_mentions
from fediserver.domain.notifications import notify, withdraw
from fediserver.domain.services import Services
from fediserver.domain.tags import index_tags
from fediserver.errors import InvalidInput, NotFound
from fediserver.federation import outbound
from fediserver.federation.convert import attachments_to_models, note_to_model
from fediserver.federation.remote import fetch_document, get_actor
from fediserver.federation.render import create_for_note, note_to_as
from fediserver.media import StoredImage, check_focus
from fediserver.models import NOTIFICATION_TYPES, VISIBILITIES, DeliveryJob, LocalActor, MediaAttachment, Note, NoteEdit
from fediserver.notes import attachments_by_note, generations_by_note, may_see
from fediserver.text.entities import extract
from fediserver.text.formatter import Account, Rendered, render
from fediserver.text.length import post_length

JSON = dict[str, Any]
NOTE_TYPES = ("Note", "Article", "Page", "Question")


@dataclass(frozen=True)
class PostDraft:
    """A new post as an interface received it. ``footer`` is a paragraph appended after the text and not
    counted against the limit (the AI disclosure of generated images). ``assisted`` says the writing
    assistant rewrote the text: the post then carries ``assist.disclosure_text`` too, unless the admin
    turned ``assist.disclosure`` off."""

    text: str = ""
    visibility: str = "public"
    summary: str = ""
    sensitive: bool = False
    in_reply_to: str | None = None
    image: StoredImage | None = None
    alt: str = ""
    # The image's focal point, Mastodon's ``focus`` (x, y in [-1, 1]), sent as ``focalPoint``.
    focus: tuple[float, float] | None = None
    footer: str = ""
    assisted: bool = False
    # Actor URIs addressed beyond the text's mentions (an ActivityPub client's ``to``/``cc``), and the
    # recipients delivered to but never shown (``bto``/``bcc``, ActivityPub §6: removed before delivery).
    addressees: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class PostEdit:
    text: str
    summary: str = ""
    sensitive: bool = False


@dataclass(frozen=True)
class Addressing:
    to: list[str]
    cc: list[str]


def addressing(visibility: str, followers_url: str, mentions: Sequence[str]) -> Addressing:
    """to/cc as Mastodon writes them and reads them back (``StatusParser#visibility``, checklist 13)."""
    if visibility == "public":
        return Addressing(to=[ap.PUBLIC], cc=[followers_url, *mentions])
    if visibility == "unlisted":
        return Addressing(to=[followers_url], cc=[ap.PUBLIC, *mentions])
    if visibility == "followers":
        return Addressing(to=[followers_url], cc=list(mentions))
    if visibility == "direct":
        return Addressing(to=list(mentions), cc=[])
    raise InvalidInput(f"visibility: expected one of {', '.join(VISIBILITIES)}, got {visibility!r}")


def new_object_key() -> str:
    """Time-ordered, unguessable id for a note's URL: 12 hex digits of milliseconds, 8 random."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def dev_mode(svc: Services) -> bool:
    """Local development: mentions may carry a :port, and handles resolve over http."""
    return svc.fed.webfinger_scheme == "http"


def check_length(svc: Services, text: str, summary: str) -> None:
    limit = svc.settings.instance.max_characters
    length = post_length(text, summary, allow_ports=dev_mode(svc))
    if length > limit:
        raise InvalidInput(f"text: {length} characters, at most {limit} (a link counts as 23)")


async def find_note(svc: Services, session: AsyncSession, uri: str, viewer: LocalActor | None) -> Note:
    """A post by its URI, fetched and stored if remote and not yet known; 404 if the viewer may not see it."""
    note = await session.scalar(select(Note).where(Note.uri == uri, Note.deleted_at.is_(None)))
    if note is None and not uri.startswith(svc.urls.base + "/"):
        note = await _fetch_remote(svc, session, uri)
    viewer_uri = svc.urls.actor(viewer.username) if viewer is not None else None
    if note is None or not await may_see(session, note, viewer_uri):
        raise NotFound(f"no such post: {uri}")
    return note


async def _fetch_remote(svc: Services, session: AsyncSession, uri: str) -> Note | None:
    try:
        doc = await fetch_document(svc.fed, session, uri)
        if not ap.has_type(doc, *NOTE_TYPES) or doc.get("id") != uri:
            return None
        author_id = ap.get_id(doc.get("attributedTo"))
        if author_id is None:
            return None
        note = note_to_model(doc, await get_actor(svc.fed, session, author_id))
    except ap.ActivityPubError:
        return None
    note.attachments = attachments_to_models(doc)
    session.add(note)
    await session.flush()
    return note


async def _parent_author(svc: Services, session: AsyncSession, parent: Note) -> Account | None:
    if parent.local_actor_id is not None:
        actor = await session.get(LocalActor, parent.local_actor_id)
        return local_account(svc.fed, actor) if actor is not None else None
    remote = await get_actor(svc.fed, session, parent.attributed_to)
    # The handle's domain is the actor's host (with its port, for instances on loopback); WebFinger
    # could name another (Mastodon's WEB_DOMAIN), but the Mention's href is what servers match on.
    domain = urlsplit(remote.uri).netloc.lower()
    return Account(remote.preferred_username, domain, remote.uri, remote.url or remote.uri)


async def _compose(
    svc: Services, session: AsyncSession, author: LocalActor, text: str, parent: Note | None
) -> tuple[Rendered, list[Account]]:
    """The HTML and the accounts to address: those mentioned, and the replied-to author."""
    entities = extract(text, allow_ports=dev_mode(svc))
    accounts = await resolve_mentions(svc.fed, session, entities)
    rendered = render(text, accounts, svc.urls.tag, local_domain=svc.urls.domain, entities=entities)
    author_uri = svc.urls.actor(author.username)
    mentioned = [a for a in rendered.mentions if a.actor_id != author_uri]
    replied_to = parent.attributed_to if parent is not None else author_uri
    if parent is not None and replied_to != author_uri and all(a.actor_id != replied_to for a in mentioned):
        parent_author = await _parent_author(svc, session, parent)
        if parent_author is not None:
            mentioned.append(parent_author)
    return rendered, mentioned


def _tags(svc: Services, mentioned: Sequence[Account], hashtags: Sequence[str]) -> list[JSON]:
    """Mention and Hashtag objects (checklist 14, 15); a mention is named ``@user@domain`` even if local."""
    tags: list[JSON] = [
        {"type": "Mention", "href": a.actor_id, "name": f"@{a.username}@{a.domain or svc.urls.domain}"}
        for a in mentioned
    ]
    tags += [{"type": "Hashtag", "href": svc.urls.tag(name), "name": f"#{name}"} for name in hashtags]
    return tags


async def _notify_local_mentions(
    session: AsyncSession, author_uri: str, note: Note, mentioned: Sequence[Account]
) -> None:
    local = [a.username for a in mentioned if a.domain is None]
    if not local:
        return
    for actor in await session.scalars(select(LocalActor).where(LocalActor.username.in_(local))):
        await notify(session, actor.id, "mention", author_uri, note.uri)


async def note_document(svc: Services, session: AsyncSession, note: Note) -> JSON:
    media = (await attachments_by_note(session, [note.id])).get(note.id, [])
    generation = (await generations_by_note(session, [note])).get(note.id)
    return note_to_as(note, svc.urls, media, generation)


async def deliver(
    svc: Services, session: AsyncSession, author: LocalActor, note: Note, activity: JSON
) -> list[DeliveryJob]:
    """Followers and addressees; a direct post's activities reach its addressees only."""
    if note.visibility == "direct":
        inboxes = await outbound.addressed_inboxes(session, activity)
        return await outbound.enqueue(svc.fed, session, activity, author, inboxes)
    return await outbound.to_followers(svc.fed, session, activity, author)


def attachment_for(
    owner: LocalActor, image: StoredImage, alt: str, focus: tuple[float, float] | None = None
) -> MediaAttachment:
    """The attachment row of an upload stored by ``media.ingest_upload``, not yet on a post; ``focus`` is
    Mastodon's focal point, checked to [-1, 1]. Every interface builds upload rows here."""
    focus_x, focus_y = check_focus(*focus) if focus is not None else (None, None)
    return MediaAttachment(
        local_actor_id=owner.id,
        storage_key=image.storage_key,
        thumbnail_key=image.thumbnail_key,
        media_type=image.media_type,
        width=image.width,
        height=image.height,
        size_bytes=image.size_bytes,
        blurhash=image.blurhash,
        description=alt,
        focus_x=focus_x,
        focus_y=focus_y,
    )


async def publish_post(
    svc: Services,
    session: AsyncSession,
    author: LocalActor,
    draft: PostDraft,
    *,
    media: Sequence[MediaAttachment] = (),
    generation_job_id: int | None = None,
) -> Note:
    """Store the post, index its hashtags, notify mentioned local users and queue its Create; caller commits.

    ``media`` are attachments whose files are already stored (a generated image); ``draft.image`` is an
    upload already cleaned and stored by ``media.ingest_upload`` (the interface does that, off the loop).
    """
    if draft.visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility: expected one of {', '.join(VISIBILITIES)}, got {draft.visibility!r}")
    text = draft.text.strip()
    if not text and draft.image is None and not media:
        raise InvalidInput("text: a post needs text or an image")
    check_length(svc, text, draft.summary)
    parent = await find_note(svc, session, draft.in_reply_to, author) if draft.in_reply_to else None
    assist = svc.settings.assist
    disclosures = [draft.footer, assist.disclosure_text if draft.assisted and assist.disclosure else ""]
    footer = "\n\n".join(d for d in disclosures if d)
    source = f"{text}\n\n{footer}" if footer and text else (text or footer)
    rendered, mentioned = await _compose(svc, session, author, source, parent)
    addressees = list(dict.fromkeys([*(a.actor_id for a in mentioned), *draft.addressees]))
    address = addressing(draft.visibility, svc.urls.followers(author.username), addressees)
    key = new_object_key()
    note = Note(
        uri=svc.urls.note(key),
        url=svc.urls.note(key),
        local_actor_id=author.id,
        attributed_to=svc.urls.actor(author.username),
        content=rendered.html,
        source_text=source,
        summary=draft.summary or None,
        sensitive=draft.sensitive or bool(draft.summary),
        visibility=draft.visibility,
        to=address.to,
        cc=address.cc,
        in_reply_to_uri=parent.uri if parent is not None else None,
        tags=_tags(svc, mentioned, rendered.hashtags),
        emojis=[],
        generation_job_id=generation_job_id,
    )
    session.add(note)
    await session.flush()
    for position, item in enumerate(media):
        item.note_id, item.position = note.id, position
        session.add(item)
    if draft.focus is not None and draft.image is None:
        raise InvalidInput("focus: a focal point belongs to an image")
    if draft.image is not None:
        image = draft.image
        row = attachment_for(author, image, draft.alt, draft.focus)
        row.note_id, row.position = note.id, len(media)
        session.add(row)
    await session.flush()
    await index_tags(session, note, rendered.hashtags)
    await _notify_local_mentions(session, note.attributed_to, note, mentioned)
    await streams.status_event(session, svc.urls, note, "update")
    activity = create_for_note(await note_document(svc, session, note), svc.urls)
    await deliver(svc, session, author, note, activity)
    if draft.hidden:
        hidden = await outbound.addressed_inboxes(session, {"to": list(draft.hidden)})
        await outbound.enqueue(svc.fed, session, activity, author, hidden)
    return note


async def own_note(svc: Services, session: AsyncSession, author: LocalActor, uri: str) -> Note:
    note = await session.scalar(
        select(Note)
        .options(selectinload(Note.attachments))
        .where(Note.uri == uri, Note.local_actor_id == author.id, Note.deleted_at.is_(None))
    )
    if note is None:
        raise NotFound(f"{author.username} has no post {uri}")
    return note


def keep_version(session: AsyncSession, note: Note) -> NoteEdit:
    """Store the note's current version in its history before it changes (Mastodon's ``status_edits``)."""
    edit = NoteEdit(
        note_id=note.id,
        content=note.content,
        source_text=note.source_text,
        summary=note.summary,
        sensitive=note.sensitive,
        created_at=note.updated_at or note.published_at,
    )
    session.add(edit)
    return edit


async def edit_post(svc: Services, session: AsyncSession, author: LocalActor, uri: str, edit: PostEdit) -> Note:
    """Replace the post's text, keep the old version, and send ``Update(Note)`` with ``updated``.

    The post keeps its visibility; newly mentioned accounts are added to its addressing (Mastodon's
    ``UpdateStatusService``), and the Update goes to everyone the post reached and the new addressees.
    """
    note = await own_note(svc, session, author, uri)
    text = edit.text.strip()
    if not text and not note.attachments:
        raise InvalidInput("text: a post needs text or an image")
    check_length(svc, text, edit.summary)
    parent = None
    if note.in_reply_to_uri is not None:
        parent = await session.scalar(select(Note).where(Note.uri == note.in_reply_to_uri))
    rendered, mentioned = await _compose(svc, session, author, text, parent)
    keep_version(session, note)
    followers = svc.urls.followers(author.username)
    before = [u for u in [*note.to, *note.cc] if u != followers and not ap.is_public(u)]
    addressees = list(dict.fromkeys([*before, *(a.actor_id for a in mentioned)]))
    address = addressing(note.visibility, followers, addressees)
    note.to, note.cc = address.to, address.cc
    note.content, note.source_text = rendered.html, text
    note.summary, note.sensitive = edit.summary or None, edit.sensitive or bool(edit.summary)
    note.tags = _tags(svc, mentioned, rendered.hashtags)
    note.updated_at = svc.fed.clock()
    await session.flush()
    await index_tags(session, note, rendered.hashtags)
    new = [a for a in mentioned if a.actor_id not in before]
    await _notify_local_mentions(session, note.attributed_to, note, new)
    await streams.status_event(session, svc.urls, note, "status.update")
    doc = await note_document(svc, session, note)
    version = int(note.updated_at.timestamp())
    activity = ap.update(id=f"{note.uri}#updates/{version}", actor=note.attributed_to, object=doc)
    await deliver(svc, session, author, note, activity)
    return note


async def delete_post(svc: Services, session: AsyncSession, author: LocalActor, uri: str) -> Note:
    """Mark the post deleted (it answers 410 with a Tombstone) and send ``Delete``; the caller commits."""
    note = await own_note(svc, session, author, uri)
    note.deleted_at = svc.fed.clock()
    await withdraw(session, NOTIFICATION_TYPES, note.attributed_to, [note.uri])
    await streams.status_event(session, svc.urls, note, "delete")
    activity = ap.delete(
        id=f"{note.uri}#delete",
        actor=note.attributed_to,
        object=ap.tombstone(id=note.uri, former_type="Note", deleted=note.deleted_at),
        to=note.to,
        cc=note.cc,
    )
    await deliver(svc, session, author, note, activity)
    return note


async def history(session: AsyncSession, note: Note) -> list[NoteEdit]:
    """Earlier versions of a post, oldest first."""
    return list(await session.scalars(select(NoteEdit).where(NoteEdit.note_id == note.id).order_by(NoteEdit.id)))
