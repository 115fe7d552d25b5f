"""What an inbound handler is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.federation.context import Federation
from fediserver.models import LocalActor, Note, RemoteActor

JSON = dict[str, Any]


@dataclass
class Inbound:
    fed: Federation
    session: AsyncSession
    activity: JSON
    actor: RemoteActor

    @property
    def object(self) -> Any:
        return self.activity.get("object")

    @property
    def object_id(self) -> str | None:
        return ap.get_id(self.object)

    async def local_actor(self, uri: str | None) -> LocalActor | None:
        """The local user whose actor id is ``uri``; a deleted account is none."""
        prefix = self.fed.urls.actor("")
        if uri is None or not uri.startswith(prefix):
            return None
        username = uri[len(prefix) :]
        return await self.session.scalar(
            select(LocalActor).where(
                LocalActor.username == username,
                LocalActor.actor_type != "Application",
                LocalActor.deleted_at.is_(None),
            )
        )

    async def local_note(self, uri: str | None) -> Note | None:
        if uri is None or not uri.startswith(self.fed.urls.base + "/"):
            return None
        return await self.session.scalar(
            select(Note).where(Note.uri == uri, Note.local_actor_id.is_not(None), Note.deleted_at.is_(None))
        )
