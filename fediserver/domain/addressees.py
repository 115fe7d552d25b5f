"""Local users a post is addressed to, by actor id, whether or not its text mentions them.

ActivityPub delivers to every actor in ``to``/``cc``/``bto``/``bcc``/``audience`` (§7.1), and an
ActivityPub client addresses people that way without writing ``@name`` in the text (§6.1). Both a local
post (``publish_post``) and a received one (the inbound Create) therefore notify each local user named
there, as Mastodon notifies a mention; and a local post is put in each local addressee's inbox (the
inbound queue, already processed) as if it had been delivered over HTTP, so their ActivityPub client
reads it there (``c2s.inbox_rule``). Local delivery is not queued as HTTP to ourselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.domain.notifications import notify
from fediserver.models import Follow, InboundActivity, LocalActor, Note, utcnow
from fediserver.urls import Urls

AUDIENCE = ("to", "cc", "bto", "bcc", "audience")


def named_in(*docs: dict[str, Any]) -> list[str]:
    """Every actor id in the documents' audience fields, in order, without duplicates."""
    return list(dict.fromkeys(uri for doc in docs for field in AUDIENCE for uri in ap.get_ids(doc.get(field))))


async def local_addressees(session: AsyncSession, urls: Urls, uris: Iterable[str]) -> list[LocalActor]:
    """The live local users among ``uris`` (collections, Public and remote actors are ignored)."""
    prefix = urls.actor("")
    names = {uri[len(prefix) :] for uri in uris if uri.startswith(prefix) and "/" not in uri[len(prefix) :]}
    if not names:
        return []
    rows = await session.scalars(
        select(LocalActor).where(
            LocalActor.username.in_(names), LocalActor.actor_type != "Application", LocalActor.deleted_at.is_(None)
        )
    )
    return sorted(rows, key=lambda row: row.id)


async def notify_addressees(session: AsyncSession, urls: Urls, note: Note, uris: Iterable[str]) -> None:
    """A ``mention`` notification for each local user among ``uris`` but the author (deduplicated)."""
    for actor in await local_addressees(session, urls, uris):
        if urls.actor(actor.username) != note.attributed_to:
            await notify(session, actor.id, "mention", note.attributed_to, note.uri, subject_at=note.published_at)


async def deliver_locally(
    session: AsyncSession, urls: Urls, author: LocalActor, activity: dict[str, Any], hidden: Iterable[str]
) -> None:
    """Record ``activity`` in the inbound queue, already processed, when it addresses local users or the
    author has local followers (their C2S inbox shows what the accounts they follow post, ActivityPub §5.2).

    ``hidden`` (the ``bto``/``bcc`` recipients) is kept on the stored copy so the rule finds those users;
    the inbox never shows those fields (§6).
    """
    me = urls.actor(author.username)
    hidden = list(hidden)
    named = [uri for uri in named_in(activity, activity.get("object") or {}) if uri != me] + hidden
    if not await local_addressees(session, urls, [uri for uri in named if uri != me]) and not await _local_followers(
        session, urls, me
    ):
        return
    now = utcnow()
    body = {**activity, "bcc": hidden} if hidden else activity
    session.add(
        InboundActivity(
            activity_id=str(activity["id"]),
            activity_type=str(activity["type"]),
            actor_uri=me,
            key_id=urls.actor_key(author.username),
            recipient_actor_id=None,
            body=body,
            state="done",
            next_attempt_at=now,
            processed_at=now,
        )
    )
    await session.flush()


async def _local_followers(session: AsyncSession, urls: Urls, actor_uri: str) -> bool:
    found = await session.scalar(
        select(Follow.id)
        .where(
            Follow.followed_uri == actor_uri, Follow.follower_uri.startswith(urls.actor("")), Follow.state == "accepted"
        )
        .limit(1)
    )
    return found is not None
