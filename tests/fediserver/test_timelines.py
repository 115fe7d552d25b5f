"""Timelines (``fediserver.domain.timelines``): who shows where, and each page in a fixed number of statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.timeline_seed import READER, Shape, seed
from fediserver.db import session_factory
from fediserver.domain import timelines
from fediserver.mastodon import ids
from fediserver.mastodon.pagination import Page
from fediserver.mastodon.present import Presenter
from fediserver.models import ActorBlock, Announce, Bookmark, Follow, LocalActor, Mute, Note, Notification
from fediserver.urls import Urls

URLS = Urls(scheme="http", domain="127.0.0.1:8000")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


def page(limit: int) -> Page:
    return Page(max_id=None, since_id=None, min_id=None, limit=limit)


async def _reader(session: AsyncSession) -> timelines.Reader:
    me = await session.scalar(select(LocalActor).where(LocalActor.username == READER))
    assert me is not None
    return timelines.Reader(actor=me, uri=URLS.actor(READER))


async def test_home_page__costs_the_same_statements_for_5_and_40_posts(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    async with sessions() as session:
        await seed(session, URLS, Shape(accounts=40, posts=400, followed=10))
        await session.commit()
    counts = {}
    for limit in (5, 40):
        async with sessions() as session:
            reader = await _reader(session)
            with counting(db) as statements:
                entries = await timelines.home(session, reader, page(limit))
                body = await Presenter(session, URLS, reader.uri, reader.actor).timeline(entries)
            counts[limit] = len(statements)
        assert len(body) == limit
        assert any(s["reblog"] for s in body) or limit == 5
        assert any(s["media_attachments"] for s in body)
    assert counts[5] == counts[40]
    assert counts[40] <= 6, counts


async def test_public_and_account_pages__cost_the_same_statements_for_5_and_40_posts(db: AsyncEngine) -> None:
    sessions = session_factory(db)
    async with sessions() as session:
        await seed(session, URLS, Shape(accounts=4, posts=200, followed=2))
        await session.commit()
    counts: dict[tuple[str, int], int] = {}
    for limit in (5, 40):
        async with sessions() as session:
            reader = await _reader(session)
            with counting(db) as statements:
                notes = await timelines.public(session, reader, page(limit))
                await Presenter(session, URLS, reader.uri, reader.actor).statuses(notes)
            counts[("public", limit)] = len(statements)
            with counting(db) as statements:
                notes = await timelines.account(session, reader, URLS.actor("local0"), page(limit))
                await Presenter(session, URLS, reader.uri, reader.actor).statuses(notes)
            counts[("account", limit)] = len(statements)
            assert len(notes) == limit
    assert counts[("public", 5)] == counts[("public", 40)] <= 6
    assert counts[("account", 5)] == counts[("account", 40)] <= 6


class World:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.n = 0

    async def actor(self, name: str) -> LocalActor:
        row = LocalActor(username=name, private_key_pem="-", public_key_pem="-")
        self.session.add(row)
        await self.session.flush()
        return row

    async def note(self, author: str, text: str, visibility: str = "public") -> Note:
        self.n += 1
        row = Note(
            uri=f"{URLS.actor(author)}/statuses/{self.n}",
            attributed_to=URLS.actor(author),
            content=text,
            visibility=visibility,
            published_at=T0 + timedelta(minutes=self.n),
        )
        self.session.add(row)
        await self.session.flush()
        return row

    def follow(self, who: str, whom: str) -> None:
        self.session.add(
            Follow(
                activity_uri=f"{URLS.actor(who)}#f/{whom}",
                follower_uri=URLS.actor(who),
                followed_uri=URLS.actor(whom),
                state="accepted",
            )
        )


async def test_home__own_followed_boosted_and_mentioning_posts_minus_muted_and_blocked(db: AsyncEngine) -> None:
    sessions: async_sessionmaker[AsyncSession] = session_factory(db)
    async with sessions() as session:
        w = World(session)
        me = await w.actor("me")
        for name in ("friend", "stranger", "muted", "blocker", "booster"):
            await w.actor(name)
        for name in ("friend", "muted", "blocker", "booster"):
            w.follow("me", name)
        await w.note("me", "mine")
        friends = await w.note("friend", "friend's")
        await w.note("friend", "friend's followers-only", "followers")
        await w.note("friend", "friend's direct to someone else", "direct")
        await w.note("stranger", "stranger's")
        boosted = await w.note("stranger", "stranger's boosted")
        mention = await w.note("stranger", "stranger mentions me", "direct")
        await w.note("muted", "muted's")
        await w.note("blocker", "blocker's")
        session.add(
            Announce(
                activity_uri="https://x/boost",
                actor_uri=URLS.actor("booster"),
                note_uri=boosted.uri,
                created_at=T0 + timedelta(hours=1),
            )
        )
        session.add(
            Notification(
                local_actor_id=me.id,
                type="mention",
                from_actor_uri=URLS.actor("stranger"),
                note_uri=mention.uri,
                dedupe_key="m1",
                subject_at=mention.published_at,
            )
        )
        session.add(Mute(local_actor_id=me.id, target_uri=URLS.actor("muted")))
        session.add(
            ActorBlock(activity_uri="https://x/block", actor_uri=URLS.actor("blocker"), target_uri=URLS.actor("me"))
        )
        session.add(Bookmark(local_actor_id=me.id, note_id=friends.id))
        await session.commit()
        reader = timelines.Reader(actor=me, uri=URLS.actor("me"))
        entries = await timelines.home(session, reader, page(40))
        body = await Presenter(session, URLS, reader.uri, me).timeline(entries)
    boost = body[0]
    assert boost["account"]["username"] == "booster"
    assert boost["reblog"]["content"] == "stranger's boosted"
    assert boost["reblog"]["account"]["username"] == "stranger"
    assert boost["id"] != boost["reblog"]["id"]
    assert boost["uri"] == "https://x/boost"
    assert [s["bookmarked"] for s in body] == [False, False, False, True, False]
    seen = [(e.note.content, e.boosted_by) for e in entries]
    assert seen == [
        ("stranger's boosted", URLS.actor("booster")),
        ("stranger mentions me", None),
        ("friend's followers-only", None),
        ("friend's", None),
        ("mine", None),
    ]


async def test_home__a_page_after_max_id_continues_without_repeats(db: AsyncEngine) -> None:
    sessions: async_sessionmaker[AsyncSession] = session_factory(db)
    async with sessions() as session:
        w = World(session)
        me = await w.actor("me")
        for i in range(7):
            await w.note("me", f"post {i}")
        await session.commit()
        reader = timelines.Reader(actor=me, uri=URLS.actor("me"))
        presenter = Presenter(session, URLS, reader.uri, me)
        first = await presenter.timeline(await timelines.home(session, reader, page(4)))
        older = Page(max_id=ids.Snowflake.parse(first[-1]["id"]), since_id=None, min_id=None, limit=4)
        second = await presenter.timeline(await timelines.home(session, reader, older))
    assert [s["content"] for s in first] == [f"post {i}" for i in (6, 5, 4, 3)]
    assert [s["content"] for s in second] == [f"post {i}" for i in (2, 1, 0)]


async def test_home__pages_by_max_id_reach_every_one_of_many_mentions_once(db: AsyncEngine) -> None:
    """The mention part reads a page's worth of the reader's mentions below ``max_id`` (newest post first),
    not all of them: walking the pages must still give each mentioning post once, in order."""
    sessions: async_sessionmaker[AsyncSession] = session_factory(db)
    async with sessions() as session:
        w = World(session)
        me = await w.actor("me")
        await w.actor("stranger")
        for i in range(100):
            note = await w.note("stranger", f"mention {i}", "direct")
            session.add(
                Notification(
                    local_actor_id=me.id,
                    type="mention",
                    from_actor_uri=URLS.actor("stranger"),
                    note_uri=note.uri,
                    dedupe_key=f"m{i}",
                    subject_at=note.published_at,
                )
            )
        await session.commit()
        reader = timelines.Reader(actor=me, uri=URLS.actor("me"))
        presenter = Presenter(session, URLS, reader.uri, me)
        seen: list[str] = []
        window = page(40)
        while True:
            body = await presenter.timeline(await timelines.home(session, reader, window))
            if not body:
                break
            seen += [s["content"] for s in body]
            window = Page(max_id=ids.Snowflake.parse(body[-1]["id"]), since_id=None, min_id=None, limit=40)
    assert seen == [f"mention {i}" for i in reversed(range(100))]


async def test_account__direct_and_followers_only_posts_show_only_to_whom_they_may(db: AsyncEngine) -> None:
    sessions: async_sessionmaker[AsyncSession] = session_factory(db)
    async with sessions() as session:
        w = World(session)
        fan = await w.actor("fan")
        other = await w.actor("other")
        await w.actor("author")
        w.follow("fan", "author")
        await w.note("author", "public")
        await w.note("author", "for followers", "followers")
        await w.note("author", "direct", "direct")
        await session.commit()
        author = URLS.actor("author")

        async def seen(who: LocalActor | None) -> list[str]:
            reader = timelines.Reader.of(URLS, who)
            return [n.content for n in await timelines.account(session, reader, author, page(40))]

        assert await seen(None) == ["public"]
        assert await seen(other) == ["public"]
        assert await seen(fan) == ["for followers", "public"]


async def test_home__an_expired_mute_hides_nothing(db: AsyncEngine) -> None:
    sessions: async_sessionmaker[AsyncSession] = session_factory(db)
    async with sessions() as session:
        w = World(session)
        me = await w.actor("me")
        await w.actor("quiet")
        await w.actor("loud")
        w.follow("me", "quiet")
        w.follow("me", "loud")
        await w.note("quiet", "quiet's")
        await w.note("loud", "loud's")
        now = datetime.now(UTC)
        session.add(Mute(local_actor_id=me.id, target_uri=URLS.actor("quiet"), expires_at=now - timedelta(seconds=1)))
        session.add(Mute(local_actor_id=me.id, target_uri=URLS.actor("loud"), expires_at=now + timedelta(hours=1)))
        await session.commit()
        reader = timelines.Reader(actor=me, uri=URLS.actor("me"))
        entries = await timelines.home(session, reader, page(40))
    assert [e.note.content for e in entries] == ["quiet's"]
