"""What an inbound handler is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import activitypub as ap
from fediserver.federation.context import Federation
from fediserver.federation.remote import fetch_detached, forget_actor, store_actor
from fediserver.jobs.worker import FetchFirst, PermanentJobError
from fediserver.models import LocalActor, Note, RemoteActor

JSON = dict[str, Any]


@dataclass
class Inbound:
    fed: Federation
    session: AsyncSession
    activity: JSON
    actor: RemoteActor
    # Remote documents fetched for this job, by URL: a handler that needs one it has not got raises
    # ``FetchFirst`` and runs again once the worker fetched it with no connection held (issue 8).
    documents: dict[str, JSON] = field(default_factory=dict)

    async def fetch(self, url: str) -> JSON:
        """The remote document at ``url`` (a signed GET as the instance actor), fetched outside the job's
        transaction."""
        doc = self.documents.get(url)
        if doc is not None:
            return doc
        documents, fed = self.documents, self.fed

        async def fetch(sessions: async_sessionmaker[AsyncSession]) -> None:
            try:
                documents[url] = await fetch_detached(fed, sessions, url)
            except (ap.InvalidObject, ap.UnsafeURLError) as exc:
                raise PermanentJobError(str(exc)) from exc

        raise FetchFirst(fetch, url)

    async def remote_actor(self, uri: str, *, refresh: bool = False) -> RemoteActor:
        """The cached actor at ``uri``; fetched (outside the transaction) when unknown or ``refresh``."""
        if not refresh or uri in self.documents:
            row = await self.session.scalar(select(RemoteActor).where(RemoteActor.uri == uri))
            if row is not None and not refresh:
                return row
        doc = await self.fetch(uri)
        if doc.get("id") != uri:
            raise ap.InvalidObject(f"{uri} is served with id {doc.get('id')!r}")
        forget_actor(self.fed, uri)
        return await store_actor(self.session, doc)

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
