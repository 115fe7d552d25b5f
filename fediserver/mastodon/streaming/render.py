"""An event's payload for one viewer (MD:/methods/streaming/#events): the entity the REST API returns.

``update`` and ``status.update`` carry the Status as the viewer sees it, ``delete`` the bare status id,
``notification`` the Notification (MD:/entities/Notification/). None when the viewer may not see it:
private posts are checked again here, whatever stream keys the event was sent to.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.mastodon.entities.notification import notification_entity
from fediserver.mastodon.entities.status import status_id
from fediserver.mastodon.present import JSON, Presenter
from fediserver.mastodon.streaming.broker import StreamEvent
from fediserver.models import LocalActor, Note, Notification
from fediserver.notes import may_see
from fediserver.urls import Urls


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


async def render(session: AsyncSession, urls: Urls, viewer: LocalActor, event: StreamEvent) -> str | None:
    """The payload text for ``viewer`` (a JSON document, or the bare id for ``delete``), or None."""
    viewer_uri = urls.actor(viewer.username)
    presenter = Presenter(session, urls, viewer_uri)
    if event.event == "notification":
        row = await session.get(Notification, event.subject_id)
        if row is None or row.local_actor_id != viewer.id:
            return None
        entity = await notification_payload(presenter, row)
        return json.dumps(entity) if entity is not None else None
    note = await session.get(Note, event.subject_id)
    if note is None:
        return None
    if event.event == "delete":
        return status_id(note)
    if note.deleted_at is not None or not await may_see(session, note, viewer_uri):
        return None
    statuses = await presenter.statuses([note])
    return json.dumps(statuses[0]) if statuses else None
