"""Recorded stream events are written with the transaction that records them, in one statement, in order;
a transaction that rolls back writes none. Look-up tables of ``domain.memo`` are forgotten when the models
they depend on are written."""

from __future__ import annotations

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from fediserver.db import session_factory
from fediserver.domain import streams
from fediserver.domain.memo import cached
from fediserver.models import Follow, StreamEventRow, Tag


async def test_events__written_at_commit_in_one_statement_in_order(db: AsyncEngine) -> None:
    inserts: list[str] = []
    event.listen(
        db.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, *_: inserts.append(sql) if sql.startswith("INSERT INTO stream_events") else None,
    )
    sessions = session_factory(db)
    async with sessions() as session:
        for id_ in (3, 1, 2):
            streams.notification_event(session, id_, 7)
        await session.commit()
    async with sessions() as session:
        rows = list(await session.scalars(select(StreamEventRow).order_by(StreamEventRow.id)))
    assert [(r.event, r.subject_id, r.keys) for r in rows] == [
        ("notification", i, ["user:7", "user:notification:7"]) for i in (3, 1, 2)
    ]
    assert len(inserts) == 1


async def test_events__a_rolled_back_transaction_writes_none(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    async with sessions() as session:
        streams.notification_event(session, 1, 7)
        await session.rollback()
        streams.notification_event(session, 2, 7)
        await session.commit()
    async with sessions() as session:
        streams.notification_event(session, 3, 7)  # closed without a commit
    async with sessions() as session:
        assert list(await session.scalars(select(StreamEventRow.subject_id))) == [2]


async def test_memo__a_table_is_forgotten_when_a_model_it_depends_on_is_written(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    async with sessions() as session:
        cached(session, "follows", (Follow,))["x"] = 1
        cached(session, "other")["y"] = 2
        session.add(Tag(name="t", display_name="t"))
        await session.flush()
        assert cached(session, "follows", (Follow,)) == {"x": 1}, "a Tag is not a Follow"
        session.add(Follow(follower_uri="a", followed_uri="b", activity_uri="f", state="pending"))
        await session.flush()
        assert cached(session, "follows", (Follow,)) == {}
        cached(session, "follows", (Follow,))["x"] = 1
        await session.execute(update(Follow).values(state="accepted"))
        assert cached(session, "follows", (Follow,)) == {}
        assert cached(session, "other") == {"y": 2}
        await session.rollback()
        assert cached(session, "other") == {}


def test_tags_of__a_remote_post_streams_the_hashtags_of_its_tag_only() -> None:
    from fediserver.models import Note

    hashtag = [{"type": "Hashtag", "name": "#Boats", "href": "https://remote.example/tags/boats"}]
    text = "<p>sailing #today</p>"
    # Remote: what the tag index (and the REST tag timeline) holds; the text is not read (Mastodon).
    assert streams.tags_of(Note(local_actor_id=None, content=text, tags=hashtag)) == {"boats"}
    assert streams.tags_of(Note(local_actor_id=None, content=text, tags=[])) == set()
    # Local: the tags when there are, else the text.
    assert streams.tags_of(Note(local_actor_id=3, content=text, tags=hashtag)) == {"boats"}
    assert streams.tags_of(Note(local_actor_id=3, content=text, tags=[])) == {"today"}
