"""Posts: publish, edit and delete, with Mastodon's text, addressing and delivery rules.

A post's text is rendered as Mastodon renders it (``fediserver.text``); every mentioned account, and
the author of the post replied to, is addressed (``cc`` for public, unlisted and followers-only posts,
``to`` for direct ones, federation.md checklist 13 and 14) and tagged ``Mention``; hashtags become
``Hashtag`` tags and are indexed. Delivery goes to the author's followers and to every addressed
inbox, except for a direct post, which goes to its addressees only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

import activitypub as ap
from fediserver.domain import edit_media, sent, streams
from fediserver.domain.addressees import deliver_locally, notify_addressees

# Drafts and their checks live in ``drafts``; interfaces keep importing them from here.
from fediserver.domain.drafts import Addressing as Addressing
from fediserver.domain.drafts import PostDraft as PostDraft
from fediserver.domain.drafts import PostEdit as PostEdit
from fediserver.domain.drafts import addressing as addressing
from fediserver.domain.drafts import attachment_for as attachment_for
from fediserver.domain.drafts import check_length as check_length
from fediserver.domain.drafts import dev_mode as dev_mode
from fediserver.domain.drafts import new_object_key as new_object_key
from fediserver.domain.mentions import local_account, resolve_mentions
from fediserver.domain.notifications import notify, withdraw
from fediserver.domain.services import Services
from fediserver.domain.tags import index_tags
from fediserver.errors import InvalidInput, NotFound
from fediserver.federation import outbound
from fediserver.federation.connections import caching
from fediserver.federation.convert import attachments_to_models, note_to_model
from fediserver.federation.remote import fetch_document, get_actor
from fediserver.federation.render import create_for_note, note_to_as
from fediserver.models import NOTIFICATION_TYPES, VISIBILITIES, DeliveryJob, LocalActor, MediaAttachment, Note, NoteEdit
from fediserver.notes import attachments_by_note, generations_by_note, may_see
from fediserver.text.entities import extract
from fediserver.text.formatter import Account, Rendered, render

JSON = dict[str, Any]
NOTE_TYPES = ("Note", "Article", "Page", "Question")


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
    try:
        async with caching(session), session.begin_nested():
            session.add(note)
    except IntegrityError:
        # The inbox stored the same post while we fetched it (its Create arrived meanwhile): use that row.
        return await session.scalar(select(Note).where(Note.uri == uri, Note.deleted_at.is_(None)))
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
        await notify(session, actor.id, "mention", author_uri, note.uri, subject_at=note.published_at)


async def note_document(
    svc: Services, session: AsyncSession, note: Note, media: list[MediaAttachment] | None = None
) -> JSON:
    """The note's ActivityStreams object; ``media`` are its attachments in order when the caller holds
    them (a post it just made), else they are read."""
    if media is None:
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
    attached = list(media)
    if draft.image is not None:
        image = draft.image
        row = attachment_for(author, image, draft.alt, draft.focus)
        row.note_id, row.position = note.id, len(media)
        session.add(row)
        attached.append(row)
    await session.flush()
    await index_tags(session, note, rendered.hashtags, replace=False)
    await _notify_local_mentions(session, note.attributed_to, note, mentioned)
    await notify_addressees(session, svc.urls, note, [*draft.addressees, *draft.hidden])
    await streams.status_event(session, svc.urls, note, "update")
    activity = create_for_note(await note_document(svc, session, note, attached), svc.urls)
    await deliver_locally(session, svc.urls, author, activity, draft.hidden)
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
    """Store the note's current version in its history before it changes (Mastodon's ``status_edits``),
    its attachments included; ``note.attachments`` must be loaded (``own_note`` loads them)."""
    edit = NoteEdit(
        note_id=note.id,
        content=note.content,
        source_text=note.source_text,
        summary=note.summary,
        sensitive=note.sensitive,
        media=edit_media.snapshot(note.attachments),
        created_at=note.updated_at or note.published_at,
    )
    session.add(edit)
    return edit


async def edit_post(svc: Services, session: AsyncSession, author: LocalActor, uri: str, edit: PostEdit) -> Note:
    """Replace the post's text, keep the old version, and send ``Update(Note)`` with ``updated``; the Update
    is kept at an id of its own (``domain.sent``).

    The post keeps its visibility; newly mentioned accounts are added to its addressing (Mastodon's
    ``UpdateStatusService``), and the Update goes to everyone the post reached and the new addressees.
    """
    note = await own_note(svc, session, author, uri)
    text = edit.text.strip()
    attachments = edit_media.edited_media(note, author, edit.media)
    if not text and not attachments:
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
    for item in note.attachments:
        if item not in attachments:
            # Taken off the post: back to the author's unattached uploads.
            item.note_id = None
    for position, item in enumerate(attachments):
        item.note_id, item.position = note.id, position
    edit_media.apply_changes(attachments, edit.media_changes)
    await session.flush()
    await session.refresh(note, ["attachments"])
    await index_tags(session, note, rendered.hashtags)
    new = [a for a in mentioned if a.actor_id not in before]
    await _notify_local_mentions(session, note.attributed_to, note, new)
    await streams.status_event(session, svc.urls, note, "status.update")
    doc = await note_document(svc, session, note)
    activity = ap.update(id=sent.new_id(svc.urls, author, "update"), actor=note.attributed_to, object=doc)
    sent.remember(session, author, note, activity)
    await deliver(svc, session, author, note, activity)
    return note


async def delete_post(svc: Services, session: AsyncSession, author: LocalActor, uri: str) -> Note:
    """Mark the post deleted (it answers 410 with a Tombstone) and send ``Delete``, kept at an id of its own
    (``domain.sent``), whose kept Updates are dropped; the caller commits."""
    note = await own_note(svc, session, author, uri)
    note.deleted_at = svc.fed.clock()
    await withdraw(session, NOTIFICATION_TYPES, note.attributed_to, [note.uri])
    await streams.status_event(session, svc.urls, note, "delete")
    activity = ap.delete(
        id=sent.new_id(svc.urls, author, "delete"),
        actor=note.attributed_to,
        object=ap.tombstone(id=note.uri, former_type="Note", deleted=note.deleted_at),
        to=note.to,
        cc=note.cc,
    )
    await sent.forget_updates(session, note)
    sent.remember(session, author, note, activity)
    await deliver(svc, session, author, note, activity)
    return note


async def history(session: AsyncSession, note: Note) -> list[NoteEdit]:
    """Earlier versions of a post, oldest first."""
    return list(await session.scalars(select(NoteEdit).where(NoteEdit.note_id == note.id).order_by(NoteEdit.id)))
