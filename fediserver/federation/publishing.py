"""Publishing local posts and reactions to the fediverse."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.federation import outbound
from fediserver.federation.context import Federation
from fediserver.federation.render import create_for_note, note_to_as
from fediserver.models import DeliveryJob, LocalActor, Note, utcnow
from fediserver.notes import attachments_by_note, generations_by_note


async def publish_note(fed: Federation, session: AsyncSession, author: LocalActor, note: Note) -> list[DeliveryJob]:
    """Queue the note's Create for its followers and addressees; the caller commits."""
    media = (await attachments_by_note(session, [note.id])).get(note.id, [])
    generation = (await generations_by_note(session, [note])).get(note.id)
    activity = create_for_note(note_to_as(note, fed.urls, media, generation), fed.urls)
    return await outbound.to_followers(fed, session, activity, author)


async def delete_note(fed: Federation, session: AsyncSession, author: LocalActor, note: Note) -> list[DeliveryJob]:
    note.deleted_at = utcnow()
    actor_uri = fed.urls.actor(author.username)
    activity = ap.delete(
        id=f"{note.uri}#delete",
        actor=actor_uri,
        object=ap.tombstone(id=note.uri, former_type="Note", deleted=note.deleted_at),
        to=note.to,
        cc=note.cc,
    )
    return await outbound.to_followers(fed, session, activity, author)


async def like(fed: Federation, session: AsyncSession, me: LocalActor, note: Note) -> list[DeliveryJob]:
    """Like a remote note: sent to its author's inbox."""
    from fediserver.federation.remote import get_actor

    author = await get_actor(fed, session, note.attributed_to)
    actor_uri = fed.urls.actor(me.username)
    activity = ap.like(id=f"{actor_uri}#likes/{note.id}", actor=actor_uri, object=note.uri, to=[author.uri])
    return await outbound.enqueue(fed, session, activity, me, [author.inbox])


async def announce(fed: Federation, session: AsyncSession, me: LocalActor, note: Note) -> list[DeliveryJob]:
    """Boost a note: to our followers and its author."""
    from fediserver.federation.remote import get_actor

    author = await get_actor(fed, session, note.attributed_to)
    actor_uri = fed.urls.actor(me.username)
    activity = ap.announce(
        id=f"{actor_uri}#announces/{note.id}",
        actor=actor_uri,
        object=note.uri,
        to=[ap.PUBLIC],
        cc=[fed.urls.followers(me.username), author.uri],
        published=utcnow(),
    )
    return await outbound.to_followers(fed, session, activity, me)
