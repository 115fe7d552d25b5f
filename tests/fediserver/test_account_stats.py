"""``account_stats`` (migration 0023) equals a recount of notes and follows after every kind of write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fediserver import migrate
from fediserver.db import make_engine, session_factory
from fediserver.mastodon.present import Presenter
from fediserver.models import AccountStat, Follow, LocalActor, Note, RemoteActor
from fediserver.urls import Urls

ALICE = "https://a.example/users/alice"
BOB = "https://b.example/users/bob"
CAROL = "https://c.example/users/carol"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

Counts = dict[str, tuple[int, int, int, datetime | None]]


async def _stored(session: AsyncSession) -> Counts:
    rows = await session.scalars(select(AccountStat))
    return {
        r.actor_uri: (r.statuses_count, r.followers_count, r.following_count, r.last_status_at)
        for r in rows
        if (r.statuses_count, r.followers_count, r.following_count) != (0, 0, 0)
    }


async def _recounted(session: AsyncSession) -> Counts:
    """What ``Presenter._stats`` computed with GROUP BY before the counters existed."""
    live = await session.execute(
        select(Note.attributed_to, func.count(), func.max(Note.published_at))
        .where(Note.deleted_at.is_(None))
        .group_by(Note.attributed_to)
    )
    statuses = {uri: (int(count), last) for uri, count, last in live}
    accepted = Follow.state == "accepted"
    followers: dict[str, int] = {}
    following: dict[str, int] = {}
    for counts, column in ((followers, Follow.followed_uri), (following, Follow.follower_uri)):
        for uri, count in await session.execute(select(column, func.count()).where(accepted).group_by(column)):
            counts[uri] = int(count)
    uris = set(statuses) | set(followers) | set(following)
    return {
        u: (statuses.get(u, (0, None))[0], followers.get(u, 0), following.get(u, 0), statuses.get(u, (0, None))[1])
        for u in uris
    }


def _note(n: int, author: str, minutes: int) -> Note:
    return Note(
        uri=f"{author}/statuses/{n}",
        attributed_to=author,
        content="<p>x</p>",
        to=[],
        cc=[],
        published_at=T0 + timedelta(minutes=minutes),
    )


def _follow(follower: str, followed: str, state: str) -> Follow:
    return Follow(
        activity_uri=f"{follower}#follows/{followed}", follower_uri=follower, followed_uri=followed, state=state
    )


async def test_counters__equal_a_recount_after_each_insert_delete_and_state_change(db: AsyncEngine) -> None:
    steps: list[tuple[str, object]] = []
    async with session_factory(db)() as session:

        async def check(label: str) -> None:
            await session.flush()
            stored, truth = await _stored(session), await _recounted(session)
            assert stored == truth, label
            steps.append((label, stored))

        session.add_all([_note(1, ALICE, 1), _note(2, ALICE, 3), _note(3, ALICE, 2), _note(4, BOB, 5)])
        await check("inserted")
        assert (await _stored(session))[ALICE] == (3, 0, 0, T0 + timedelta(minutes=3))
        newest = await session.scalar(select(Note).where(Note.uri == f"{ALICE}/statuses/2"))
        assert newest is not None
        newest.deleted_at = T0
        await check("newest soft-deleted: last_status_at falls back")
        assert (await _stored(session))[ALICE] == (2, 0, 0, T0 + timedelta(minutes=2))
        await session.execute(update(Note).where(Note.attributed_to == ALICE).values(deleted_at=T0))
        await check("bulk soft-delete (an account's deletion)")
        await session.execute(delete(Note).where(Note.attributed_to == BOB))
        await check("hard delete")
        session.add_all([_follow(ALICE, BOB, "pending"), _follow(CAROL, BOB, "accepted")])
        await check("follows inserted, one pending")
        assert (await _stored(session))[BOB][1] == 1
        await session.execute(update(Follow).where(Follow.follower_uri == ALICE).values(state="accepted"))
        await check("pending accepted")
        await session.execute(update(Follow).where(Follow.follower_uri == CAROL).values(state="rejected"))
        await check("accepted rejected")
        await session.execute(delete(Follow).where(Follow.follower_uri == ALICE))
        await check("unfollowed")
        assert await _stored(session) == {}
        await session.commit()
    assert len(steps) == 8


async def test_counters__count_each_post_of_one_multi_row_insert(db: AsyncEngine) -> None:
    # PostgreSQL counts a statement's inserted notes together (migration 0032): authors with and without a
    # row already, several posts of one author out of time order, and a post inserted already deleted.
    def row(n: int, author: str, minutes: int, deleted: bool = False) -> dict[str, object]:
        note = _note(n, author, minutes)
        return {
            "uri": note.uri, "attributed_to": author, "content": note.content, "to": [], "cc": [],
            "published_at": note.published_at, "deleted_at": T0 if deleted else None,
        }  # fmt: skip

    async with session_factory(db)() as session:
        session.add(_note(0, ALICE, 10))
        await session.flush()
        rows = [row(1, ALICE, 4), row(2, BOB, 7), row(3, ALICE, 12), row(4, BOB, 6), row(5, CAROL, 30, deleted=True)]
        await session.execute(insert(Note).values(rows))
        assert await _stored(session) == await _recounted(session)
        assert (await _stored(session)) == {
            ALICE: (3, 0, 0, T0 + timedelta(minutes=12)),
            BOB: (2, 0, 0, T0 + timedelta(minutes=7)),
        }


async def test_counters__are_kept_by_triggers_at_head(db: AsyncEngine) -> None:
    """A later SQLite batch migration rebuilding ``notes`` or ``follows`` would drop them silently."""
    async with db.connect() as conn:
        if db.dialect.name == "sqlite":
            found = await conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        else:
            found = await conn.scalars(text("SELECT DISTINCT trigger_name FROM information_schema.triggers"))
        names = set(found)
    assert {n.rsplit("_", 1)[0] if db.dialect.name == "sqlite" else n for n in names} >= {
        "account_stats_notes",
        "account_stats_follows",
        *(["account_stats_notes_inserted"] if db.dialect.name == "postgresql" else []),
    }


async def test_migration__backfills_the_counts_of_rows_written_before_it(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine, "0022")
        async with session_factory(engine)() as session:
            session.add_all([_note(1, ALICE, 1), _note(2, ALICE, 2), _note(3, BOB, 1)])
            session.add_all([_follow(ALICE, BOB, "accepted"), _follow(CAROL, BOB, "pending")])
            await session.commit()
        await migrate.upgrade(engine)
        async with session_factory(engine)() as session:
            stored = await _stored(session)
            assert stored == await _recounted(session)
        assert stored[ALICE] == (2, 0, 1, T0 + timedelta(minutes=2))
        assert stored[BOB] == (1, 1, 0, T0 + timedelta(minutes=1))
    finally:
        await engine.dispose()


async def test_account_entities__carry_the_counters_of_local_and_remote_accounts(db: AsyncEngine) -> None:
    urls = Urls(scheme="http", domain="127.0.0.1:8000")
    local = urls.actor("alice")
    async with session_factory(db)() as session:
        session.add(LocalActor(username="alice", private_key_pem="-", public_key_pem="-"))
        session.add(LocalActor(username="quiet", private_key_pem="-", public_key_pem="-"))
        session.add(RemoteActor(uri=BOB, domain="b.example", preferred_username="bob", inbox=f"{BOB}/inbox", raw={}))
        session.add_all([_note(1, local, 1), _note(2, local, 4), _note(3, BOB, 2)])
        session.add_all(
            [_follow(BOB, local, "accepted"), _follow(local, BOB, "accepted"), _follow(CAROL, BOB, "pending")]
        )
        await session.commit()
        found = await Presenter(session, urls, None).accounts([local, BOB, urls.actor("quiet")])
    fields = ("statuses_count", "followers_count", "following_count", "last_status_at")
    assert {a["username"]: tuple(a[f] for f in fields) for a in found.values()} == {
        "alice": (2, 1, 1, "2026-01-01"),
        "bob": (1, 1, 1, "2026-01-01"),
        "quiet": (0, 0, 0, None),
    }
