"""What an inbound handler is given."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import activitypub as ap
from fediserver.domain.memo import cached
from fediserver.federation.context import Federation
from fediserver.federation.remote import fetch_detached, forget_actor, store_actor
from fediserver.jobs.worker import FetchFirst, PermanentJobError
from fediserver.models import LocalActor, Note, RemoteActor

JSON = dict[str, Any]


async def preload_senders(session: AsyncSession, uris: Iterable[str]) -> None:
    """Remember the cached actors among ``uris`` (the senders of the jobs about to run) in one query."""
    known = cached(session, "senders")
    missing = set(uris) - known.keys()
    if missing:
        for row in await session.scalars(_actors_by_uri(), {"uris": list(missing)}):
            known[row.uri] = row


# The batch's look-ups, built once: the inbox worker runs them every transaction (docs/benchmarks.md).
@functools.cache
def _actors_by_uri() -> Select[RemoteActor]:
    return select(RemoteActor).where(RemoteActor.uri.in_(bindparam("uris", expanding=True)))


@functools.cache
def _local_actors_by_name() -> Select[LocalActor]:
    return select(LocalActor).where(
        LocalActor.username.in_(bindparam("names", expanding=True)),
        LocalActor.actor_type != "Application",
        LocalActor.deleted_at.is_(None),
    )


async def sender(session: AsyncSession, uri: str) -> RemoteActor | None:
    """The cached remote actor ``uri`` (the sender of a queued activity), remembered like ``cached``."""
    known = cached(session, "senders")
    row: RemoteActor | None = known.get(uri)
    if row is None:
        row = await session.scalar(select(RemoteActor).where(RemoteActor.uri == uri))
        if row is not None:
            known[uri] = row
    return row


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
        found = await self.local_actors([uri] if uri is not None else [])
        return found[0] if found else None

    async def local_actors(self, uris: Iterable[str | None]) -> list[LocalActor]:
        """The live local users (not the instance actor) among ``uris``, by id, each once.

        Remembered for the rest of the transaction (``cached``): the worker names the same users in job
        after job (every post mentioning them), and it never changes local accounts itself.
        """
        prefix = self.fed.urls.actor("")
        names = {uri[len(prefix) :] for uri in uris if uri is not None and uri.startswith(prefix)}
        names = {name for name in names if name and "/" not in name}
        known = cached(self.session, "local_actors")
        missing = names - known.keys()
        if missing:
            # The worker writes no local account, so nothing pending needs flushing first: an autoflush here
            # would write the batch's notes pending so far on their own (``domain.ids``).
            with self.session.no_autoflush:
                rows = await self.session.scalars(_local_actors_by_name(), {"names": list(missing)})
            found = {row.username: row for row in rows}
            known.update({name: found.get(name) for name in missing})
        return sorted((row for name in names if (row := known[name]) is not None), key=lambda row: row.id)

    async def local_note(self, uri: str | None) -> Note | None:
        if uri is None or not uri.startswith(self.fed.urls.base + "/"):
            return None
        return await self.session.scalar(
            select(Note).where(Note.uri == uri, Note.local_actor_id.is_not(None), Note.deleted_at.is_(None))
        )
