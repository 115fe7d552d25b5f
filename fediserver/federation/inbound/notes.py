"""Create, Update and Delete of Notes (and the Delete of an actor)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

import activitypub as ap
from fediserver.domain import streams
from fediserver.domain.addressees import named_in
from fediserver.domain.ids import expect_rows, reserve_id
from fediserver.domain.memo import cached
from fediserver.domain.notifications import notify, withdraw
from fediserver.domain.tags import hashtag_names, index_tags
from fediserver.federation.convert import attachments_to_models, note_to_model
from fediserver.federation.inbound.context import Inbound
from fediserver.models import NOTIFICATION_TYPES, Announce, Follow, LocalActor, Note, NoteEdit, RemoteActor, utcnow

NOTE_TYPES = ("Note", "Article", "Page", "Question")


async def _object_document(ctx: Inbound) -> dict[str, Any] | None:
    """The object: embedded when on the actor's origin, else fetched by id (checklist 32)."""
    obj = ctx.object
    if isinstance(obj, dict) and ap.same_origin(ap.require_id(obj), ctx.actor.uri):
        return obj
    object_id = ap.get_id(obj)
    if object_id is None:
        return None
    return await ctx.fetch(object_id)


async def _is_relevant(ctx: Inbound, doc: dict[str, Any]) -> bool:
    """Mastodon keeps a remote post only when it relates to a local account (interop failure 9)."""
    base = ctx.fed.urls.base + "/"
    addressed = ap.get_ids(doc.get("to")) + ap.get_ids(doc.get("cc"))
    if any(uri.startswith(base) for uri in addressed):
        return True
    reply_to = ap.get_id(doc.get("inReplyTo"))
    if reply_to is not None and reply_to.startswith(base):
        return True
    followed = await ctx.session.scalar(
        select(Follow.id).where(
            Follow.followed_uri == ctx.actor.uri,
            Follow.follower_uri.startswith(base),
            Follow.state == "accepted",
        )
    )
    return followed is not None


async def store_note(ctx: Inbound, doc: dict[str, Any], author: RemoteActor) -> Note:
    note, _ = await _store(ctx, doc, author)
    return note


async def preload_absent(session: AsyncSession, uris: Iterable[str]) -> None:
    """Remember which of ``uris`` (the objects of a batch's Creates) are not stored yet, in one query, so
    ``_store`` inserts those without asking one by one."""
    absent = cached(session, "absent_notes")
    wanted = set(uris) - absent.keys()
    if wanted:
        stored = set(await session.scalars(_stored_uris(), {"uris": list(wanted)}))
        absent.update(dict.fromkeys(wanted - stored, True))
        expect_rows(session, Note, len(wanted - stored))


@functools.cache
def _stored_uris() -> Select[str]:
    """Which of the parameter ``uris`` are stored notes: built once, run every batch."""
    return select(Note.uri).where(Note.uri.in_(bindparam("uris", expanding=True)))


async def _store(ctx: Inbound, doc: dict[str, Any], author: RemoteActor) -> tuple[Note, bool]:
    """The stored note, and whether it is new."""
    # Taken out before the insert: the same object again in this transaction is then looked up.
    known_absent = cached(ctx.session, "absent_notes").pop(doc.get("id"), False)
    existing = None
    if not known_absent:
        existing = await ctx.session.scalar(
            select(Note).options(selectinload(Note.attachments)).where(Note.uri == doc.get("id"))
        )
    if existing is not None and existing.attributed_to != author.uri:
        raise ap.InvalidObject(f"{existing.uri} belongs to {existing.attributed_to}")
    note = note_to_model(doc, author, existing)
    if existing is None:
        attachments = attachments_to_models(doc)
        if attachments:
            note.attachments = attachments
        else:
            # Empty, set as if loaded: the collection's events for an empty list were a fifth of storing a post.
            set_committed_value(note, "attachments", [])
        # With its id known, a new note waits for the next flush, with the rest of the batch's notes.
        reserved = await reserve_id(ctx.session, Note)
        ctx.session.add(note)
        if reserved is not None:
            note.id = reserved
            return note, True
    await ctx.session.flush()
    return note, existing is None


async def after_store(ctx: Inbound, note: Note, doc: dict[str, Any], *, new: bool = False) -> None:
    """Index a public post's hashtags; notify local users it mentions, addresses or replies to (Mastodon's
    ``ProcessMentionsService``: a reply to a local post also mentions its author). ``new``: the note was
    just inserted, so it has no earlier hashtags to replace."""
    names = hashtag_names(doc.get("tag")) if note.visibility == "public" else []
    if names or not new:
        await index_tags(ctx.session, note, names, replace=not new)
    mentioned = [
        ap.get_id(tag.get("href"))
        for tag in ap.as_list(doc.get("tag"))
        if isinstance(tag, dict) and ap.has_type(tag, "Mention")
    ]
    # Local users named in the audience without a Mention tag (an ActivityPub client's to/cc, §6.1).
    recipients = {local.id for local in await ctx.local_actors([*mentioned, *named_in(ctx.activity, doc)])}
    parent = await ctx.local_note(note.in_reply_to_uri)
    if parent is not None and parent.local_actor_id is not None:
        recipients.add(parent.local_actor_id)
    for recipient in sorted(recipients):
        await notify(ctx.session, recipient, "mention", note.attributed_to, note.uri, subject_at=note.published_at)


async def on_create(ctx: Inbound) -> None:
    doc = await _object_document(ctx)
    if doc is None or not ap.has_type(doc, *NOTE_TYPES):
        return
    if not await _is_relevant(ctx, doc):
        return
    note, new = await _store(ctx, doc, ctx.actor)
    await after_store(ctx, note, doc, new=new)
    if new:
        await streams.status_event(ctx.session, ctx.fed.urls, note, "update")


async def _keep_history(ctx: Inbound, doc: dict[str, Any]) -> str | None:
    """Before an Update replaces a known post, keep its version (Mastodon shows remote edit history);
    returns the new version's ``updated`` if the text changed, else None."""
    note = await ctx.session.scalar(select(Note).where(Note.uri == ctx.object_id))
    if note is None or note.attributed_to != ctx.actor.uri:
        return None
    fresh = note_to_model(doc, ctx.actor, Note(uri=note.uri))
    if (fresh.content, fresh.summary, fresh.sensitive) == (note.content, note.summary, note.sensitive):
        return None
    ctx.session.add(
        NoteEdit(
            note_id=note.id,
            content=note.content,
            source_text=note.source_text,
            summary=note.summary,
            sensitive=note.sensitive,
            created_at=note.updated_at or note.published_at,
        )
    )
    return str(doc.get("updated") or ctx.activity.get("id"))


async def _notify_update(ctx: Inbound, note: Note, version: str) -> None:
    """Local users who boosted an edited post hear of the edit (Mastodon's ``update`` notification)."""
    prefix = ctx.fed.urls.actor("")
    uris = await ctx.session.scalars(
        select(Announce.actor_uri).where(Announce.note_uri == note.uri, Announce.actor_uri.startswith(prefix))
    )
    names = [uri[len(prefix) :] for uri in uris]
    boosters = list(await ctx.session.scalars(select(LocalActor.id).where(LocalActor.username.in_(names))))
    for recipient in boosters:
        await notify(ctx.session, recipient, "update", note.attributed_to, note.uri, version=version)


async def on_update(ctx: Inbound) -> None:
    obj = ctx.object
    if ctx.object_id == ctx.actor.uri:
        # Profile or key change: re-read the actor from its origin rather than trust the embedded copy.
        await ctx.remote_actor(ctx.actor.uri, refresh=True)
        return
    if isinstance(obj, dict) and ap.has_type(obj, *NOTE_TYPES):
        known = await ctx.session.scalar(select(Note.id).where(Note.uri == ctx.object_id))
        if known is not None:
            version = await _keep_history(ctx, obj)
            note = await store_note(ctx, obj, ctx.actor)
            await after_store(ctx, note, obj)
            await streams.status_event(ctx.session, ctx.fed.urls, note, "status.update")
            if version is not None:
                await _notify_update(ctx, note, version)


async def on_delete(ctx: Inbound) -> None:
    now = utcnow()
    if ctx.object_id == ctx.actor.uri:
        ctx.actor.deleted_at = now
        await ctx.session.execute(
            update(Note).where(Note.attributed_to == ctx.actor.uri, Note.deleted_at.is_(None)).values(deleted_at=now)
        )
        from sqlalchemy import delete, or_

        await ctx.session.execute(
            delete(Follow).where(or_(Follow.follower_uri == ctx.actor.uri, Follow.followed_uri == ctx.actor.uri))
        )
        await withdraw(ctx.session, NOTIFICATION_TYPES, ctx.actor.uri)
        return
    if ctx.object_id is not None:
        await withdraw(ctx.session, NOTIFICATION_TYPES, ctx.actor.uri, [ctx.object_id])
        gone = await ctx.session.scalar(
            select(Note).where(
                Note.uri == ctx.object_id, Note.attributed_to == ctx.actor.uri, Note.deleted_at.is_(None)
            )
        )
        if gone is not None:
            await streams.status_event(ctx.session, ctx.fed.urls, gone, "delete")
    await ctx.session.execute(
        update(Note)
        .where(Note.uri == ctx.object_id, Note.attributed_to == ctx.actor.uri, Note.deleted_at.is_(None))
        .values(deleted_at=now)
    )
