"""What every outbox handler gets: the services, the session and the posting user."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.c2s.submission import BadActivity, WrongActor
from fediserver.domain.services import Services
from fediserver.errors import NotFound
from fediserver.federation.remote import get_actor
from fediserver.models import LocalActor, Note


@dataclass(frozen=True)
class Outbox:
    svc: Services
    session: AsyncSession
    me: LocalActor

    @property
    def me_uri(self) -> str:
        return self.svc.urls.actor(self.me.username)

    async def my_note(self, uri: str) -> Note:
        """A live post of the principal; someone else's is 403 (c2s.md §7 rule 2: ownership)."""
        note = await self.session.scalar(select(Note).where(Note.uri == uri, Note.deleted_at.is_(None)))
        if note is None:
            raise NotFound(f"object-does-not-exist: no post {uri}")
        if note.local_actor_id != self.me.id:
            raise WrongActor(f"{uri} is not attributed to {self.me_uri}")
        return note

    async def known_actors(self, uris: tuple[str, ...]) -> None:
        """Fetch and cache remote recipients, so delivery finds their inboxes; one we cannot reach is 400."""
        for uri in uris:
            if uri.startswith(self.svc.urls.base + "/"):
                continue
            try:
                await get_actor(self.svc.fed, self.session, uri)
            except ap.ActivityPubError as exc:
                raise BadActivity(f"recipient {uri}: {exc}") from None


def object_id(value: object, what: str = "object") -> str:
    uri = ap.get_id(value)
    if uri is None:
        raise BadActivity(f"{what}: an IRI or an object with an id is required")
    return uri
