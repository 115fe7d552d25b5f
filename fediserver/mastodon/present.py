"""Rows to entities in batches: one query per kind of data for a whole page, never one per status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import String, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain.decorations import decorate
from fediserver.domain.timelines import Entry
from fediserver.mastodon.entities.account import AccountStats, local_account, remote_account
from fediserver.mastodon.entities.media_attachment import media_entity
from fediserver.mastodon.entities.status import (
    StatusContext,
    emoji_entities,
    mention_entities,
    mentioned_uris,
    reblog_entity,
    status_entity,
    status_id,
    tag_entities,
)
from fediserver.mastodon.ids import snowflake
from fediserver.models import AccountStat, LocalActor, Note, RemoteActor
from fediserver.urls import Urls

JSON = dict[str, Any]


class Presenter:
    """Entities as seen by ``viewer_uri`` (None: anonymous)."""

    def __init__(
        self, session: AsyncSession, urls: Urls, viewer_uri: str | None, reader: LocalActor | None = None
    ) -> None:
        self.session = session
        self.urls = urls
        self.viewer_uri = viewer_uri
        # The local account behind ``viewer_uri``, for its bookmarks; found when not given.
        self.reader = reader

    async def _stats(self, uris: list[str]) -> dict[str, AccountStats]:
        """The stored counters of every one of ``uris`` (``fediserver.models.stats``): one primary-key read."""
        if not uris:
            return {}
        rows = await self.session.scalars(select(AccountStat).where(AccountStat.actor_uri.in_(uris)))
        stored = {row.actor_uri: _counters(row) for row in rows}
        return {uri: stored.get(uri, AccountStats()) for uri in uris}

    async def accounts(self, uris: Iterable[str]) -> dict[str, JSON]:
        """Account entities by actor URI; unknown URIs are left out. Two statements (local and remote
        accounts), each with its stored counters joined in."""
        wanted = sorted(set(uris))
        prefix = self.urls.actor("")
        local_names = [u[len(prefix) :] for u in wanted if u.startswith(prefix)]
        remote_uris = [u for u in wanted if not u.startswith(prefix)]
        out: dict[str, JSON] = {}
        if local_names:
            local_uri = literal(prefix, String).concat(LocalActor.username)
            for actor, stat in await self.session.execute(
                select(LocalActor, AccountStat)
                .outerjoin(AccountStat, AccountStat.actor_uri == local_uri)
                .where(LocalActor.username.in_(local_names), LocalActor.actor_type != "Application")
            ):
                out[self.urls.actor(actor.username)] = local_account(actor, self.urls, _counters(stat))
        if remote_uris:
            for remote, stat in await self.session.execute(
                select(RemoteActor, AccountStat)
                .outerjoin(AccountStat, AccountStat.actor_uri == RemoteActor.uri)
                .where(RemoteActor.uri.in_(remote_uris))
            ):
                out[remote.uri] = remote_account(remote, self.urls, _counters(stat))
        return out

    async def account(self, uri: str) -> JSON | None:
        return (await self.accounts([uri])).get(uri)

    async def _reader_id(self) -> int | None:
        if self.reader is not None:
            return self.reader.id
        prefix = self.urls.actor("")
        if self.viewer_uri is None or not self.viewer_uri.startswith(prefix):
            return None
        name = self.viewer_uri[len(prefix) :]
        found: int | None = await self.session.scalar(select(LocalActor.id).where(LocalActor.username == name))
        return found

    async def statuses(self, notes: Sequence[Note]) -> list[JSON]:
        """Status entities in the order given; notes whose author is unknown are left out."""
        return [e for e in await self.timeline([Entry(note=n) for n in notes]) if e is not None]

    async def timeline(self, entries: Sequence[Entry], *, fresh: bool = False) -> list[JSON]:
        """Status entities of timeline entries (boosts wrap the boosted status); a constant number of
        statements for the whole page (``fediserver.domain.decorations``). ``fresh``: this request
        created the notes, so they have no counts, reader state or pin to read (the answer to a creation
        shows zeros, as Mastodon's does)."""
        if not entries:
            return []
        notes = [e.note for e in entries]
        reader_id = None if fresh else await self._reader_id()
        extra = await decorate(self.session, notes, self.viewer_uri, reader_id, fresh=fresh)
        boosters = [e.boosted_by for e in entries if e.boosted_by]
        mentioned = [uri for n in notes for uri in mentioned_uris(n)]
        accounts = await self.accounts(extra.author_uris(notes) + boosters + mentioned)
        out: list[JSON] = []
        for entry in entries:
            note = entry.note
            account = accounts.get(note.attributed_to)
            if account is None:
                continue
            parent = extra.parents.get(note.in_reply_to_uri or "")
            parent_account = accounts.get(parent.attributed_to) if parent is not None else None
            ctx = StatusContext(
                account=account,
                media=[media_entity(m, self.urls) for m in extra.media.get(note.id, [])],
                favourites=extra.favourites.get(note.uri, 0),
                reblogs=extra.boosts.get(note.uri, 0),
                replies=extra.replies.get(note.uri, 0),
                in_reply_to_id=status_id(parent) if parent is not None else None,
                in_reply_to_account_id=parent_account["id"] if parent_account else None,
                favourited=note.uri in extra.favourited,
                reblogged=note.uri in extra.boosted,
                bookmarked=note.id in extra.bookmarked,
                pinned=note.id in extra.pinned,
                viewer=self.viewer_uri is not None,
                mentions=mention_entities(note, accounts),
                tags=tag_entities(note, self.urls),
                emojis=emoji_entities(note),
            )
            status = status_entity(note, ctx)
            booster = accounts.get(entry.boosted_by or "")
            if entry.boost_id is not None and entry.boosted_at is not None and booster is not None:
                boost_id = snowflake(entry.boosted_at, entry.boost_id)
                status = reblog_entity(boost_id, entry.boost_uri or note.uri, entry.boosted_at, booster, status)
            out.append(status)
        return out

    async def status(self, note: Note, *, fresh: bool = False) -> JSON:
        """``note``'s entity; ``fresh`` when this request created it (``timeline``), as for the answer
        to ``POST /api/v1/statuses``."""
        found = [e for e in await self.timeline([Entry(note=note)], fresh=fresh) if e is not None]
        if not found:
            raise LookupError(f"the author of {note.uri} is unknown")
        return found[0]


def _counters(row: AccountStat | None) -> AccountStats:
    """An account's stored counters; no row: nothing counted yet, all zero."""
    if row is None:
        return AccountStats()
    return AccountStats(
        statuses=row.statuses_count,
        followers=row.followers_count,
        following=row.following_count,
        last_status_at=row.last_status_at,
    )
