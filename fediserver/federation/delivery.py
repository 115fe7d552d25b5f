"""The delivery queue's handler: sign afresh, POST, and classify the outcome for the retry policy."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.federation.context import BlockedDomainError, Federation
from fediserver.jobs.doorbell import FEDERATION
from fediserver.jobs.retry import PERMANENT_FAILURE_STATUSES, Backoff, parse_retry_after
from fediserver.jobs.worker import PermanentJobError, RetryLater
from fediserver.models import DeliveryJob, LocalActor, utcnow


class DeliveryHandler:
    """Delivers ``DeliveryJob`` rows, at most ``delivery_per_host`` at once to one host.

    One inbox receives its activities one at a time, in the order they were enqueued (``in_order_of``),
    so that an Undo does not overtake its Block or Follow; different inboxes are delivered in parallel.
    The order holds among jobs that are ready: a job waiting to retry after a failure does not hold back
    the younger jobs to its inbox (otherwise one unreachable moment would stall the inbox until the job
    gives up, days later), and arrives after them. Mastodon gives no stronger guarantee
    (its ``ActivityPub::DeliveryWorker`` jobs run concurrently in Sidekiq and retry independently).
    """

    name = "delivery"
    model = DeliveryJob
    doorbell = FEDERATION
    in_order_of = "inbox_url"
    backoff = Backoff(initial=timedelta(seconds=30), factor=2.0, cap=timedelta(hours=6))

    def __init__(self, fed: Federation) -> None:
        self.fed = fed
        self.concurrency = fed.settings.federation.delivery_concurrency
        self.batch_size = self.concurrency * 4
        self.max_attempts = fed.settings.worker.delivery_max_attempts
        per_host = fed.settings.federation.delivery_per_host
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_host))

    def give_up_at(self, job: Any) -> datetime | None:
        assert isinstance(job, DeliveryJob)
        return job.give_up_at

    async def handle(self, session: AsyncSession, job: Any) -> None:
        assert isinstance(job, DeliveryJob)
        signer_row = await session.get(LocalActor, job.signer_actor_id)
        if signer_row is None:
            raise PermanentJobError("the signing actor no longer exists")
        client = self.fed.client(self.fed.signer_for(signer_row))
        # Nothing is written before the POST: end the read so that its pooled connection goes back
        # while a slow inbox answers (issue 8). The worker records the outcome in a new transaction.
        await session.commit()
        async with self._hosts[job.host]:
            try:
                response = await client.post(job.inbox_url, job.body.encode("utf-8"))
            except BlockedDomainError as exc:
                raise PermanentJobError(str(exc)) from None
            except ap.UnsafeURLError as exc:
                raise PermanentJobError(str(exc)) from None
            except ap.RemoteStatusError as exc:
                job.last_status = exc.status
                if exc.status in PERMANENT_FAILURE_STATUSES:
                    raise PermanentJobError(f"{job.inbox_url} answered {exc.status}") from None
                raise RetryLater(
                    f"{job.inbox_url} answered {exc.status}",
                    retry_after=parse_retry_after(exc.retry_after, self.fed.clock()),
                    status=exc.status,
                ) from None
            except ap.FetchError as exc:
                raise RetryLater(str(exc)) from None
        job.last_status = response.status_code
        job.finished_at = utcnow()
