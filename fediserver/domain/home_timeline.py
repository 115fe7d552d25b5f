"""The home timeline's statement (``fediserver.domain.timelines.home``), shaped so that SQLite and PostgreSQL
stop after a page.

Three parts, each limited to the page before they are merged by time: the posts of the reader and of the
accounts they follow (SQLite walks ``ix_notes_author_published`` per author and stops once the page is
full; PostgreSQL walks ``ix_notes_published_at``), the boosts by followed accounts
(``ix_announces_actor_created`` on SQLite, ``ix_announces_created`` on PostgreSQL) and the posts mentioning
the reader (the reader's mention notifications, newest post first by ``notifications.subject_at``). Each
boosted or mentioning post is checked by a scalar lookup on its URI (``_one_post``), never joined before
the limit. Known limit: PostgreSQL's walk by time goes far back for a reader whose followed accounts post
rarely; a per-user feed filled on write would bound it. The web UI's ``Newest`` window pages by row id,
not time, so its mention part still reads every mention.

The three parts do not depend on the reader: they are built once per process with the reader as bound
parameters (``params``), so a page costs SQLAlchemy only the window and the merge, and its statement
cache key is mostly memoised on the shared parts.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Select, String, bindparam, desc, literal, or_, select, union_all

from fediserver.models import ActorBlock, Announce, Follow, Mute, Note, Notification, UTCDateTime

PUBLIC = ("public", "unlisted")
READER_URI = bindparam("home_reader_uri", type_=String)
READER_ID = bindparam("home_reader_id", type_=Integer)
NOW = bindparam("home_now", type_=UTCDateTime())


def params(reader_uri: str, reader_id: int, now: datetime) -> dict[str, Any]:
    """The values of the parts' bound parameters for one reader at ``now`` (when mutes expire)."""
    return {"home_reader_uri": reader_uri, "home_reader_id": reader_id, "home_now": now}


def _one_post(uri: Any, *where: ColumnElement[bool]) -> ColumnElement[bool]:
    """True when the post at ``uri`` (the enclosing row's column) matches ``where``. A scalar subquery, not
    EXISTS: PostgreSQL turns EXISTS into a join planned on estimates (a hash join over every post), while
    it runs a scalar subquery as a per-row lookup on ``uq_notes_uri`` that stops with the outer LIMIT."""
    return select(Note.id).where(Note.uri == uri, *where).scalar_subquery().is_not(None)


def _note_columns() -> tuple[Any, ...]:
    return (
        Note.id.label("note_id"),
        literal(None).label("booster"),
        literal(0).label("boost_id"),
        literal(None).label("boost_uri"),
        Note.published_at.label("at"),
        Note.id.label("row_id"),
    )


@cache
def parts(dialect: str) -> tuple[Select[Any], Select[Any], Select[Any]]:
    """The posts, boosts and mentioning notifications selects for the database ``dialect``, unwindowed, with
    the reader as bound parameters."""
    followed = select(Follow.followed_uri).where(Follow.follower_uri == READER_URI, Follow.state == "accepted")
    muted = select(Mute.target_uri).where(
        Mute.local_actor_id == READER_ID, or_(Mute.expires_at.is_(None), Mute.expires_at > NOW)
    )
    blocked = select(ActorBlock.target_uri).where(ActorBlock.actor_uri == READER_URI)
    blocking = select(ActorBlock.actor_uri).where(ActorBlock.target_uri == READER_URI)
    hidden = select(muted.union(blocked, blocking).subquery().c[0])
    live = Note.deleted_at.is_(None)
    authors = followed.union(select(READER_URI))
    shown_author = Note.attributed_to.not_in(hidden)
    authored: ColumnElement[bool] = Note.attributed_to.in_(authors)
    if dialect == "postgresql":
        # PostgreSQL turns a top-level IN into a join and compares each post with every followed account
        # (7 ms a page on the benchmark); inside an OR it stays a hashed subplan, one probe a post (0.2 ms).
        # Its planner folds the constant away only after deciding that. SQLite keeps the plain IN: it walks
        # ix_notes_author_published per author and stops each walk once the page is full.
        authored = or_(authored, literal(False))
    posts = select(*_note_columns()).where(
        live,
        authored,
        or_(Note.visibility != "direct", Note.attributed_to == READER_URI),
        shown_author,
    )
    # Direct posts of followed accounts and posts of anyone else reach home only by mentioning the reader.
    mentioned = select(Notification.note_uri).where(
        Notification.local_actor_id == READER_ID,
        Notification.type == "mention",
        _one_post(
            Notification.note_uri,
            live,
            Note.attributed_to.not_in(authors) | (Note.visibility == "direct"),
            shown_author,
        ),
    )
    boosts = select(
        Announce.note_uri,
        Announce.actor_uri.label("booster"),
        Announce.id.label("boost_id"),
        Announce.activity_uri.label("boost_uri"),
        Announce.created_at.label("at"),
        Announce.id.label("row_id"),
    ).where(
        Announce.actor_uri.in_(followed),
        Announce.actor_uri.not_in(hidden),
        _one_post(Announce.note_uri, live, Note.visibility.in_(PUBLIC), shown_author),
    )
    return cast("Select[Any]", posts), cast("Select[Any]", boosts), cast("Select[Any]", mentioned)


def statement(window: Any, dialect: str) -> Select[Any]:
    """The page ``window`` (a ``timelines.Window``) of the home timeline on the database ``dialect``: rows of
    (Note, booster, boost id, boost URI, time), in the window's order."""
    posts, boosts, mentioned = parts(dialect)
    post_part = window.apply(posts, Note.published_at, Note.id).subquery()
    picked_boosts = window.apply(boosts, Announce.created_at, Announce.id).subquery()
    boost_part = select(
        Note.id.label("note_id"),
        picked_boosts.c.booster,
        picked_boosts.c.boost_id,
        picked_boosts.c.boost_uri,
        picked_boosts.c.at,
        picked_boosts.c.row_id,
    ).join(picked_boosts, Note.uri == picked_boosts.c.note_uri)
    mention_part = window.apply(_mentions(mentioned, window), Note.published_at, Note.id).subquery()
    merged = union_all(select(post_part), boost_part, select(mention_part)).subquery()
    picked = select(merged).order_by(*_order(merged.c.at, merged.c.row_id, window)).limit(window.limit).subquery()
    return (
        select(Note, picked.c.booster, picked.c.boost_id, picked.c.boost_uri, picked.c.at)
        .join(picked, picked.c.note_id == Note.id)
        .order_by(*_order(picked.c.at, picked.c.row_id, window))
    )


def _mentions(mentioned: Select[Any], window: Any) -> Select[Any]:
    """The posts that mention the reader, as candidates for ``window``. A window that walks newest first by
    post time reads the reader's mentions newest first (``subject_at``, the post's time, on
    ``ix_notifications_recipient_type_subject``) and stops after twice a page, so the cost does not grow
    with every mention the reader ever received; the window itself is applied to the posts afterwards (the
    margin covers posts of the same millisecond at the page's edge)."""
    if window.newest_first_by_time:
        # Every mention notification carries its post's time (``notifications.notify``; migration 0028 for
        # older rows); one without it names a post this instance never stored, which ``_one_post`` drops.
        mentioned = mentioned.where(Notification.subject_at.is_not(None))
        if window.time_bound is not None:
            mentioned = mentioned.where(Notification.subject_at < window.time_bound)
        mentioned = mentioned.order_by(desc(Notification.subject_at)).limit(2 * window.limit)
    picked = mentioned.subquery()
    return select(*_note_columns()).join(picked, Note.uri == picked.c.note_uri)


def _order(at: Any, row_id: Any, window: Any) -> tuple[Any, Any]:
    return (at, row_id) if window.ascending else (desc(at), desc(row_id))
