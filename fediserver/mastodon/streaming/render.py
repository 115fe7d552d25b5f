"""An event's payload for one viewer (MD:/methods/streaming/#events): the entity the REST API returns.

``update`` and ``status.update`` carry the Status as the viewer sees it, ``delete`` the bare status id,
``notification`` the Notification (MD:/entities/Notification/). A boost (``reblog``) goes out as
``update`` with the boost's Status, its ``reblog`` the boosted one; an undone boost (``unreblog``) as
``delete`` with the boost's id (``domain.streams``). None when the viewer may not see it, by the rules
the REST API reads with: private posts are checked again here, whatever stream keys the event was sent
to; posts and boosts by accounts the viewer mutes or blocks, or that block the viewer, are left out
(``timelines.hidden_accounts``, as every timeline), and notifications from those the notifications list
leaves out (``notifications.hidden_senders``).
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain import notifications
from fediserver.domain.services import Services
from fediserver.domain.timelines import Entry, Reader, hidden_accounts
from fediserver.mastodon.entities.notification import notification_entity
from fediserver.mastodon.entities.status import status_id
from fediserver.mastodon.ids import snowflake
from fediserver.mastodon.present import JSON, Presenter
from fediserver.mastodon.streaming.broker import StreamEvent
from fediserver.models import Announce, LocalActor, Note, Notification
from fediserver.notes import may_see

WIRE_EVENTS = {"reblog": "update", "unreblog": "delete"}


def wire_event(event: StreamEvent) -> str:
    """The event name clients get: boosts travel as Mastodon's ``update`` and ``delete``."""
    return WIRE_EVENTS.get(event.event, event.event)


async def hides(session: AsyncSession, reader: Reader, uris: set[str]) -> bool:
    """True when ``reader`` does not see any of the accounts ``uris`` (``timelines.hidden_accounts``)."""
    hidden = hidden_accounts(reader)
    if hidden is None:
        return False
    found = hidden.subquery()
    return await session.scalar(select(found.c[0]).where(found.c[0].in_(uris)).limit(1)) is not None


async def notification_payload(presenter: Presenter, row: Notification) -> JSON | None:
    """The REST API's Notification entity for ``row``, or None when its account or status is gone or the
    viewer may no longer see the status."""
    account = await presenter.account(row.from_actor_uri)
    if account is None:
        return None
    status: JSON | None = None
    if row.note_uri is not None:
        note = await presenter.session.scalar(select(Note).where(Note.uri == row.note_uri, Note.deleted_at.is_(None)))
        if note is None or not await may_see(presenter.session, note, presenter.viewer_uri):
            return None
        status = await presenter.status(note)
    return notification_entity(row, account, status)


async def _boost(presenter: Presenter, reader: Reader, boost_id: int) -> JSON | None:
    session = presenter.session
    found = (
        await session.execute(
            select(Announce, Note).join(Note, Note.uri == Announce.note_uri).where(Announce.id == boost_id)
        )
    ).first()
    if found is None:
        return None
    boost, note = found
    if note.deleted_at is not None or not await may_see(session, note, reader.uri):
        return None
    if await hides(session, reader, {boost.actor_uri, note.attributed_to}):
        return None
    entry = Entry(
        note=note,
        boosted_by=boost.actor_uri,
        boost_id=boost.id,
        boost_uri=boost.activity_uri,
        boosted_at=boost.created_at,
    )
    shown = await presenter.timeline([entry])
    # The booster's account must be known for the entity to be a boost (``Presenter.timeline``).
    return shown[0] if shown and shown[0].get("reblog") is not None else None


async def render(session: AsyncSession, svc: Services, viewer: LocalActor, event: StreamEvent) -> str | None:
    """The payload text for ``viewer`` (a JSON document, or the bare id for ``delete``), or None."""
    reader = Reader(actor=viewer, uri=svc.urls.actor(viewer.username))
    presenter = Presenter(session, svc.urls, reader.uri, viewer)
    if event.event == "notification":
        row = await session.get(Notification, event.subject_id)
        if row is None or row.local_actor_id != viewer.id:
            return None
        if row.from_actor_uri in await notifications.hidden_senders(svc, session, viewer):
            return None
        entity = await notification_payload(presenter, row)
        return json.dumps(entity) if entity is not None else None
    if event.event == "unreblog":
        return snowflake(event.subject_at, event.subject_id) if event.subject_at is not None else None
    if event.event == "reblog":
        boosted = await _boost(presenter, reader, event.subject_id)
        return json.dumps(boosted) if boosted is not None else None
    note = await session.get(Note, event.subject_id)
    if note is None:
        return None
    if event.event == "delete":
        return status_id(note)
    if note.deleted_at is not None or not await may_see(session, note, reader.uri):
        return None
    if await hides(session, reader, {note.attributed_to}):
        return None
    statuses = await presenter.statuses([note])
    return json.dumps(statuses[0]) if statuses else None
