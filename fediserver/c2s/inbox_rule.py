"""Which received activities are in a user's inbox (ActivityPub §5.2, §7.1): a structured rule.

An activity that came through the shared inbox is the user's when (1) it addresses the user by actor id
in ``to``/``cc``/``bto``/``bcc``/``audience``, on the activity or its embedded object (§6.1 copies them
between the two); (2) its object is theirs: the user's actor (a Follow or Block of them) or one of their
posts, directly or inside the undone or accepted activity (a Like, an Undo of a Like); or (3) it comes
from an account the user follows **and** is addressed to Public or to that account's followers (a
direct message from someone they follow to a third person is not theirs). What was POSTed to the user's
own inbox is theirs; one activity is stored once, so what reached another user's inbox first is judged by
the same rule. Matching is on parsed ids, never on the JSON text, so ``.../alice`` never matches
``.../alice2`` or a quoted string in ``content``.

SQLite and PostgreSQL store the body as JSON text, so the database narrows the candidates by a text
search that every match also passes, and `concerns` decides. Pages are keyset pages on the row id
(``before``), so every item is reachable however old; ``MAX_SCAN`` bounds the candidate rows one page
examines, and a page cut short by it still links the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, cast, desc, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.models import Follow, InboundActivity, LocalActor, Note, RemoteActor
from fediserver.urls import Urls

AUDIENCE = ("to", "cc", "bto", "bcc", "audience")
MAX_SCAN = 1000
BATCH = 200


@dataclass(frozen=True)
class Reader:
    """What the rule needs to know about the inbox's owner."""

    me_id: int
    me_uri: str
    # The followers collection of each account the user follows (None when unknown).
    followed: dict[str, str | None]


def audience(doc: dict[str, Any]) -> set[str]:
    """Every id in the audience of the activity and of its embedded object, ``Public`` spelt as its IRI."""
    parts = [doc, doc["object"]] if isinstance(doc.get("object"), dict) else [doc]
    ids = {uri for part in parts for field in AUDIENCE for uri in ap.get_ids(part.get(field))}
    return {ap.PUBLIC if ap.is_public(uri) else uri for uri in ids}


def object_ids(doc: dict[str, Any]) -> list[str]:
    """The object's id and, for an activity about an activity (Undo, Accept), that activity's object."""
    obj = doc.get("object")
    found = [uri for uri in (ap.get_id(obj),) if uri is not None]
    if isinstance(obj, dict) and obj.get("object") is not None:
        found += [uri for uri in (ap.get_id(obj["object"]),) if uri is not None]
    return found


def concerns(row_recipient: int | None, actor_uri: str, doc: dict[str, Any], me: Reader, mine: set[str]) -> bool:
    """The rule of the module docstring for one received activity; ``mine`` holds the user's post ids."""
    if row_recipient == me.me_id:
        return True
    named = audience(doc)
    if me.me_uri in named:
        return True
    if any(uri == me.me_uri or uri in mine for uri in object_ids(doc)):
        return True
    if actor_uri in me.followed:
        followers = me.followed[actor_uri]
        return ap.PUBLIC in named or (followers is not None and followers in named)
    return False


async def reader_for(session: AsyncSession, me: LocalActor, urls: Urls) -> Reader:
    me_uri = urls.actor(me.username)
    rows = await session.execute(
        select(Follow.followed_uri, RemoteActor.followers_url)
        .outerjoin(RemoteActor, RemoteActor.uri == Follow.followed_uri)
        .where(Follow.follower_uri == me_uri, Follow.state == "accepted")
    )
    followed = {uri: followers for uri, followers in rows}
    for uri in followed:
        if followed[uri] is None and uri.startswith(urls.actor("")):
            followed[uri] = urls.followers(uri[len(urls.actor("")) :])
    return Reader(me.id, me_uri, followed)


async def _mine(session: AsyncSession, me: Reader, docs: Iterable[dict[str, Any]]) -> set[str]:
    referenced = {uri for doc in docs for uri in object_ids(doc)}
    if not referenced:
        return set()
    return set(await session.scalars(select(Note.uri).where(Note.uri.in_(referenced), Note.local_actor_id == me.me_id)))


@dataclass(frozen=True)
class Page:
    """Bodies of one inbox page, newest first; ``before`` is the row id the next page starts below (None:
    the end)."""

    items: list[dict[str, Any]]
    before: int | None


async def inbox_page(session: AsyncSession, me: Reader, urls: Urls, before: int | None, size: int) -> Page:
    """Up to ``size`` items of the user's inbox older than row ``before`` (all, if None), newest first."""
    text = cast(InboundActivity.body, String)
    candidates = or_(
        InboundActivity.recipient_actor_id == me.me_id,
        text.contains(f'"{me.me_uri}"'),
        text.contains(f'"{urls.note("")}'),
        InboundActivity.actor_uri.in_(list(me.followed)),
    )
    query = select(InboundActivity.id, InboundActivity.recipient_actor_id, InboundActivity.actor_uri)
    found: list[dict[str, Any]] = []
    scanned, batch = 0, min(BATCH, 2 * size)
    while scanned < MAX_SCAN:
        below = candidates if before is None else and_(candidates, InboundActivity.id < before)
        rows: Sequence[Any] = (
            await session.execute(
                query.add_columns(InboundActivity.body).where(below).order_by(desc(InboundActivity.id)).limit(batch)
            )
        ).all()
        docs = [body for *_, body in rows if isinstance(body, dict)]
        mine = await _mine(session, me, docs)
        for row_id, rcpt, actor, body in rows:
            before = row_id
            if isinstance(body, dict) and concerns(rcpt, actor, body, me, mine):
                found.append(body)
                if len(found) == size:
                    more = await session.scalar(
                        select(InboundActivity.id).where(candidates, InboundActivity.id < before).limit(1)
                    )
                    return Page(found, before if more is not None else None)
        if len(rows) < batch:
            return Page(found, None)
        # Most candidates match, so a first batch of twice the page usually fills it; a sparse stretch
        # reads larger batches, up to ``BATCH``.
        scanned, batch = scanned + len(rows), min(BATCH, 2 * batch)
    return Page(found, before)
