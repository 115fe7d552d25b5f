"""Timelines: which posts a page shows (home, public, tag, an account's), each page in one query plan.

Mastodon's rules (``HomeFeed``, ``PublicFeed``, ``TagFeed``, ``AccountStatusesFilter``): home is the
user's own posts, the posts and boosts of accounts they follow and the posts that mention them; every
timeline a user reads leaves out accounts they mute or block and accounts that block them. Selecting a
page is one statement whatever its size; ``fediserver.domain.decorations`` then loads what the page
shows in a fixed number of statements more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, and_, desc, exists, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from fediserver.domain import home_timeline
from fediserver.domain.moderation import in_public_feeds
from fediserver.models import (
    ActorBlock,
    Follow,
    LocalActor,
    MediaAttachment,
    Mute,
    Note,
    NoteTag,
    Notification,
    Tag,
    utcnow,
)
from fediserver.text.entities import normalize_tag
from fediserver.urls import Urls

T = TypeVar("T")
PUBLIC = ("public", "unlisted")


class Window(Protocol):
    """Which slice of a timeline: ``apply`` filters, orders (newest first unless ``ascending``) and limits."""

    @property
    def limit(self) -> int: ...

    @property
    def ascending(self) -> bool: ...

    @property
    def newest_first_by_time(self) -> bool:
        """True when rows are picked newest first by their time (``at``), not by row id."""
        ...

    @property
    def time_bound(self) -> datetime | None:
        """An exclusive upper bound on the time of every row picked, when the window has one."""
        ...

    def apply(
        self, query: Select[T], at: InstrumentedAttribute[datetime], row_id: InstrumentedAttribute[int]
    ) -> Select[T]: ...


@dataclass(frozen=True)
class Newest:
    """The ``limit`` entries last stored, those stored before row ``before`` when given (the web UI's
    ``?before=`` paging, by row id as its links carry)."""

    limit: int = 40
    before: int | None = None

    @property
    def ascending(self) -> bool:
        return False

    @property
    def newest_first_by_time(self) -> bool:
        return False

    @property
    def time_bound(self) -> datetime | None:
        return None

    def apply(
        self, query: Select[T], at: InstrumentedAttribute[datetime], row_id: InstrumentedAttribute[int]
    ) -> Select[T]:
        if self.before is not None:
            query = query.where(row_id < self.before)
        return query.order_by(desc(row_id)).limit(self.limit)


@dataclass(frozen=True)
class Entry:
    """One timeline entry: a post, or a boost of it by ``boosted_by`` (an actor URI)."""

    note: Note
    boosted_by: str | None = None
    boost_id: int | None = None
    boost_uri: str | None = None
    boosted_at: datetime | None = None

    @property
    def at(self) -> datetime:
        return self.boosted_at or self.note.published_at


@dataclass(frozen=True)
class Reader:
    """Who reads a timeline (None: anonymous), with the URI the visibility rules compare against."""

    actor: LocalActor
    uri: str

    @classmethod
    def of(cls, urls: Urls, actor: LocalActor | None) -> Reader | None:
        return cls(actor=actor, uri=urls.actor(actor.username)) if actor is not None else None


def hidden_accounts(reader: Reader | None) -> Select[str] | None:
    """Accounts ``reader`` does not see: muted (unexpired), blocked by them, or blocking them."""
    if reader is None:
        return None
    muted = select(Mute.target_uri).where(
        Mute.local_actor_id == reader.actor.id, or_(Mute.expires_at.is_(None), Mute.expires_at > utcnow())
    )
    blocked = select(ActorBlock.target_uri).where(ActorBlock.actor_uri == reader.uri)
    blocking = select(ActorBlock.actor_uri).where(ActorBlock.target_uri == reader.uri)
    return select(muted.union(blocked, blocking).subquery().c[0])


def _not_hidden(column: Any, reader: Reader | None) -> ColumnElement[bool]:
    hidden = hidden_accounts(reader)
    return column.not_in(hidden) if hidden is not None else literal(True)


def _has_media() -> ColumnElement[bool]:
    return exists().where(MediaAttachment.note_id == Note.id)


async def _notes(session: AsyncSession, query: Select[Note], window: Window) -> list[Note]:
    rows = list(await session.scalars(window.apply(query, Note.published_at, Note.id)))
    if window.ascending:
        rows.reverse()
    return rows


def _mentioning(reader: Reader) -> Select[str | None]:
    return select(Notification.note_uri).where(
        Notification.local_actor_id == reader.actor.id, Notification.type == "mention"
    )


async def home(session: AsyncSession, reader: Reader, window: Window) -> list[Entry]:
    """The home timeline: posts (own, followed, mentioning the reader) and boosts by followed accounts.

    A followed account's direct posts show only when they mention the reader; boosts only of public and
    unlisted posts (Mastodon's ``FanOutOnWriteService``). Posts and boosts are merged by time; the
    statement is ``fediserver.domain.home_timeline``'s.
    """
    bound = home_timeline.params(reader.uri, reader.actor.id, utcnow())
    query = home_timeline.statement(window, session.get_bind().dialect.name)
    rows = (await session.execute(query, bound)).all()
    entries = [
        Entry(
            note=note, boosted_by=booster, boost_id=boost_id or None, boost_uri=uri, boosted_at=at if booster else None
        )
        for note, booster, boost_id, uri, at in rows
    ]
    if window.ascending:
        entries.reverse()
    return entries


def _public_filter(
    query: Select[Note], reader: Reader | None, *, local: bool, remote: bool, only_media: bool
) -> Select[Note]:
    if local:
        query = query.where(Note.local_actor_id.is_not(None))
    elif remote:
        query = query.where(Note.local_actor_id.is_(None))
    if only_media:
        query = query.where(_has_media())
    # Silenced and suspended local accounts stay off the public feeds (issue 12, moderation).
    return query.where(_not_hidden(Note.attributed_to, reader), in_public_feeds())


async def public(
    session: AsyncSession,
    reader: Reader | None,
    window: Window,
    *,
    local: bool = False,
    remote: bool = False,
    only_media: bool = False,
    unlisted: bool = False,
) -> list[Note]:
    """Public posts, local or remote only when asked; ``unlisted`` also takes unlisted ones (the web UI's feeds)."""
    shown = PUBLIC if unlisted else ("public",)
    query = select(Note).where(Note.visibility.in_(shown), Note.deleted_at.is_(None))
    query = _public_filter(query, reader, local=local, remote=remote, only_media=only_media)
    return await _notes(session, query, window)


async def tag(
    session: AsyncSession,
    reader: Reader | None,
    name: str,
    window: Window,
    *,
    local: bool = False,
    remote: bool = False,
    only_media: bool = False,
) -> list[Note]:
    """Public posts carrying the hashtag ``name`` (matched normalised, as ``fediserver.domain.tags`` indexes it)."""
    tagged = select(NoteTag.note_id).join(Tag, Tag.id == NoteTag.tag_id).where(Tag.name == normalize_tag(name))
    query = select(Note).where(Note.id.in_(tagged), Note.visibility == "public", Note.deleted_at.is_(None))
    query = _public_filter(query, reader, local=local, remote=remote, only_media=only_media)
    return await _notes(session, query, window)


async def account(
    session: AsyncSession,
    reader: Reader | None,
    author_uri: str,
    window: Window,
    *,
    only_media: bool = False,
    exclude_replies: bool = False,
) -> list[Note]:
    """An account's posts as ``reader`` may see them: all to the author; followers-only to followers;
    direct ones only to the author and addressees (those the post mentions); public and unlisted to all."""
    query = select(Note).where(Note.attributed_to == author_uri, Note.deleted_at.is_(None))
    if reader is None:
        query = query.where(Note.visibility.in_(PUBLIC))
    elif reader.uri != author_uri:
        follows = exists().where(
            Follow.follower_uri == reader.uri, Follow.followed_uri == author_uri, Follow.state == "accepted"
        )
        query = query.where(
            or_(
                Note.visibility.in_(PUBLIC),
                and_(Note.visibility == "followers", follows),
                Note.uri.in_(_mentioning(reader)),
            ),
            _not_hidden(literal(author_uri), reader),
        )
    if only_media:
        query = query.where(_has_media())
    if exclude_replies:
        query = query.where(Note.in_reply_to_uri.is_(None))
    return await _notes(session, query, window)
