"""Outbound: one delivery job per target inbox, shared inboxes deduplicated per host (checklist 38)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.federation.context import Federation
from fediserver.jobs import doorbell
from fediserver.models import DeliveryJob, Follow, LocalActor, RemoteActor

JSON = dict[str, Any]


def inbox_for(actor: RemoteActor) -> str:
    return actor.shared_inbox or actor.inbox


async def follower_inboxes(session: AsyncSession, actor_uri: str) -> list[str]:
    """Inboxes of the remote accepted followers of ``actor_uri``, one shared inbox per host."""
    rows = await session.execute(
        select(RemoteActor.inbox, RemoteActor.shared_inbox)
        .join(Follow, Follow.follower_uri == RemoteActor.uri)
        .where(Follow.followed_uri == actor_uri, Follow.state == "accepted", RemoteActor.deleted_at.is_(None))
    )
    return sorted({shared or inbox for inbox, shared in rows})


async def addressed_inboxes(session: AsyncSession, activity: JSON, ours: str | None = None) -> list[str]:
    """Inboxes of remote actors named in to/cc/bto/bcc (mentions, the replied-to author); URIs starting
    with ``ours`` (this instance's base URL and a slash) are local and not looked up."""
    named = {
        uri
        for key in ("to", "cc", "bto", "bcc")
        for uri in ap.get_ids(activity.get(key))
        if not ap.is_public(uri) and not (ours and uri.startswith(ours))
    }
    if not named:
        return []
    rows = await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(named)))
    return sorted({inbox_for(row) for row in rows})


def dedupe(inboxes: Iterable[str]) -> list[str]:
    return sorted(set(inboxes))


async def enqueue(
    fed: Federation, session: AsyncSession, activity: JSON, signer: LocalActor, inboxes: Iterable[str]
) -> list[DeliveryJob]:
    """Queue ``activity`` for each inbox, skipping blocked domains and our own; the caller commits."""
    body = json.dumps(activity, separators=(",", ":"), ensure_ascii=False)
    now = fed.clock()
    horizon = now + timedelta(hours=fed.settings.federation.delivery_give_up_hours)
    await fed.blocklist.refresh(session)
    jobs = []
    for inbox in dedupe(inboxes):
        host = (urlsplit(inbox).hostname or "").lower()
        if fed.blocklist.blocks_host(host) or (
            host == urlsplit(fed.urls.base).hostname and inbox.startswith(fed.urls.base + "/")
        ):
            continue
        jobs.append(
            DeliveryJob(
                activity_id=str(activity.get("id", "")),
                inbox_url=inbox,
                host=urlsplit(inbox).netloc.lower(),
                signer_actor_id=signer.id,
                body=body,
                state="queued",
                next_attempt_at=now,
                give_up_at=horizon,
            )
        )
    session.add_all(jobs)
    await session.flush()
    if jobs:
        await doorbell.ring(session, doorbell.FEDERATION)
    return jobs


async def to_followers(fed: Federation, session: AsyncSession, activity: JSON, signer: LocalActor) -> list[DeliveryJob]:
    """Deliver to the signer's followers and to every remote actor the activity addresses."""
    actor_uri = fed.urls.actor(signer.username)
    addressed = await addressed_inboxes(session, activity, fed.urls.base + "/")
    inboxes = [*await follower_inboxes(session, actor_uri), *addressed]
    return await enqueue(fed, session, activity, signer, inboxes)
