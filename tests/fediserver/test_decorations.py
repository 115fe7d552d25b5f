"""``fediserver.domain.decorations``: a page's counts and the reader's own state, from one statement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from fediserver.db import session_factory
from fediserver.domain.decorations import decorate
from fediserver.domain.timelines import Entry
from fediserver.mastodon.present import Presenter
from fediserver.models import Announce, Bookmark, Like, LocalActor, Note, Pin
from fediserver.urls import Urls

URLS = Urls(scheme="http", domain="127.0.0.1:8000")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
ME = URLS.actor("me")
OTHER = "https://b.example/users/other"


def _note(n: int, reply_to: str | None = None) -> Note:
    return Note(
        uri=f"{ME}/statuses/{n}",
        attributed_to=ME,
        content=f"post {n}",
        in_reply_to_uri=reply_to,
        published_at=T0 + timedelta(minutes=n),
    )


async def test_decorate__counts_and_own_state_of_each_note_and_none_for_a_bare_one(db: AsyncEngine) -> None:
    async with session_factory(db)() as session:
        me = LocalActor(username="me", private_key_pem="-", public_key_pem="-")
        session.add(me)
        busy, bare = _note(1), _note(2)
        session.add_all([busy, bare])
        await session.flush()
        session.add_all(
            [
                _note(3, reply_to=busy.uri),
                _note(4, reply_to=busy.uri),
                Like(activity_uri="https://x/l1", actor_uri=ME, note_uri=busy.uri),
                Like(activity_uri="https://x/l2", actor_uri=OTHER, note_uri=busy.uri),
                Announce(activity_uri="https://x/a1", actor_uri=ME, note_uri=busy.uri),
                Like(activity_uri="https://x/l3", actor_uri=OTHER, note_uri=bare.uri),
                Bookmark(local_actor_id=me.id, note_id=busy.id),
                Pin(local_actor_id=me.id, note_id=busy.id),
            ]
        )
        await session.commit()
        found = await decorate(session, [busy, bare], ME, me.id)
        anonymous = await decorate(session, [busy, bare], None)
        body = await Presenter(session, URLS, ME, me).timeline([Entry(note=busy), Entry(note=bare)])
    assert (found.replies, found.favourites, found.boosts) == ({busy.uri: 2}, {busy.uri: 2, bare.uri: 1}, {busy.uri: 1})
    assert (found.favourited, found.boosted, found.bookmarked, found.pinned) == (
        {busy.uri},
        {busy.uri},
        {busy.id},
        {busy.id},
    )
    assert (anonymous.favourited, anonymous.boosted, anonymous.bookmarked, anonymous.pinned) == (
        set(),
        set(),
        set(),
        set(),
    )
    assert anonymous.favourites == found.favourites
    fields = ("replies_count", "favourites_count", "reblogs_count", "favourited", "reblogged", "bookmarked", "pinned")
    assert [tuple(s[f] for f in fields) for s in body] == [
        (2, 2, 1, True, True, True, True),
        (0, 1, 0, False, False, False, False),
    ]
