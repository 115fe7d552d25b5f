"""The inbox queue's handler: route each stored activity to its type's handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.domain import streams
from fediserver.domain.memo import cached
from fediserver.federation.context import Federation
from fediserver.federation.inbound.context import Inbound, preload_senders, sender
from fediserver.federation.inbound.follows import on_accept, on_follow, on_reject
from fediserver.federation.inbound.moderation import on_block, on_flag, on_move
from fediserver.federation.inbound.notes import on_create, on_delete, on_update, preload_absent
from fediserver.federation.inbound.reactions import on_announce, on_like
from fediserver.federation.inbound.undo import on_undo
from fediserver.jobs.doorbell import INBOX
from fediserver.jobs.retry import Backoff
from fediserver.jobs.worker import FetchFirst, PermanentJobError
from fediserver.models import InboundActivity, utcnow

Handler = Callable[[Inbound], Awaitable[None]]

HANDLERS: dict[str, Handler] = {
    "Follow": on_follow,
    "Accept": on_accept,
    "Reject": on_reject,
    "Undo": on_undo,
    "Create": on_create,
    "Update": on_update,
    "Delete": on_delete,
    "Like": on_like,
    "Announce": on_announce,
    "Block": on_block,
    "Flag": on_flag,
    "Move": on_move,
}


class InboxHandler:
    name = "inbox"
    model = InboundActivity
    doorbell = INBOX
    backoff = Backoff(initial=timedelta(seconds=10), factor=3.0, cap=timedelta(hours=1))
    batch_size = 64
    # One sender's activities in the order received across workers too: with two ``fediserver worker``
    # processes, a Create in one's batch and its Delete in the other's ran side by side, the Delete found
    # nothing yet, and the post stayed (an Undo and its Follow alike). A sender's younger activity is not
    # claimed while an older one runs (``queue.claim_ids``); within a batch, ``partition`` keeps the order.
    in_order_of = "actor_uri"

    def __init__(self, fed: Federation) -> None:
        self.fed = fed
        self.max_attempts = fed.settings.worker.inbound_max_attempts
        # Jobs that run alone (a fetch first, or a failure in the shared transaction) at once. SQLite has one
        # writer: concurrent jobs would only queue on its lock (in the busy handler's sleeps).
        sqlite = fed.settings.database_url.startswith("sqlite")
        self.concurrency = 1 if sqlite else fed.settings.worker.inbound_concurrency
        # On PostgreSQL, half a batch's worth of senders at most: a claim of 64 from a backlog of 50 senders
        # took every sender, and a second worker found none free until the batch was done. SQLite runs one
        # worker in the usual layout, where smaller batches only cost (28% more CPU per activity as deployed;
        # docs/benchmarks.md).
        self.keys_per_claim = None if sqlite else self.batch_size // 2
        # A transaction per job cost more than most jobs: the rest share one (``jobs.batch``).
        self.batched = True
        # Documents fetched for a job between its runs (``Inbound.fetch``), by job id.
        self.documents: dict[int, dict[str, Any]] = {}

    def partition(self, job: Any) -> str | None:
        """One sender's activities run in the order received (a Create before its Update or Delete)."""
        assert isinstance(job, InboundActivity)
        return job.actor_uri

    async def prepare(self, session: AsyncSession, jobs: Sequence[Any]) -> None:
        """Before a batch's transaction runs ``jobs``: their senders in one query, not one per job."""
        await preload_senders(session, {job.actor_uri for job in jobs})
        creates = [job.body for job in jobs if job.activity_type == "Create" and isinstance(job.body, dict)]
        objects = [ap.get_id(body.get("object")) for body in creates]
        await preload_absent(session, [uri for uri in objects if uri is not None])
        await streams.preload_followers(session, self.fed.urls, {job.actor_uri for job in jobs})

    def give_up_at(self, job: Any) -> datetime | None:
        assert isinstance(job, InboundActivity)
        return job.received_at + timedelta(days=1)

    async def handle(self, session: AsyncSession, job: Any) -> None:
        assert isinstance(job, InboundActivity)
        handler = HANDLERS.get(job.activity_type)
        if handler is not None:
            actor = await sender(session, job.actor_uri)
            if actor is None:
                raise PermanentJobError(f"sender {job.actor_uri} is not cached")
            documents = self.documents.setdefault(job.id, {})
            try:
                await handler(Inbound(self.fed, session, job.body, actor, documents))
            except FetchFirst:
                raise
            except (ap.InvalidObject, ap.UnsafeURLError) as exc:
                self.documents.pop(job.id, None)
                raise PermanentJobError(str(exc)) from exc
            except BaseException:
                self.documents.pop(job.id, None)
                raise
            self.documents.pop(job.id, None)
        # The transaction's time, as PostgreSQL's now(): a batch's jobs then end alike and their outcomes take
        # one UPDATE (``jobs.batch``).
        job.processed_at = cached(session, "transaction").setdefault("now", utcnow())
