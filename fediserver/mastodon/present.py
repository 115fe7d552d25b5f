"""Rows to entities in batches: one query per kind of data for a whole page, never one per status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain import bookmarks, profiles
from fediserver.mastodon.entities.account import AccountStats, local_account, remote_account
from fediserver.mastodon.entities.media_attachment import media_entity
from fediserver.mastodon.entities.status import StatusContext, status_entity, status_id
from fediserver.models import Announce, Follow, Like, LocalActor, Note, RemoteActor
from fediserver.notes import attachments_by_note
from fediserver.urls import Urls

JSON = dict[str, Any]


class Presenter:
    """Entities as seen by ``viewer_uri`` (None: anonymous)."""

    def __init__(self, session: AsyncSession, urls: Urls, viewer_uri: str | None) -> None:
        self.session = session
        self.urls = urls
        self.viewer_uri = viewer_uri

    async def _stats(self, uris: list[str]) -> dict[str, AccountStats]:
        if not uris:
            return {}
        live = Note.deleted_at.is_(None)
        rows = await self.session.execute(
            select(Note.attributed_to, func.count(), func.max(Note.published_at))
            .where(Note.attributed_to.in_(uris), live)
            .group_by(Note.attributed_to)
        )
        statuses = {uri: (count, last) for uri, count, last in rows}
        accepted = Follow.state == "accepted"
        followers = await self._grouped(Follow.followed_uri, uris, accepted)
        following = await self._grouped(Follow.follower_uri, uris, accepted)
        return {
            uri: AccountStats(
                statuses=statuses.get(uri, (0, None))[0],
                followers=followers.get(uri, 0),
                following=following.get(uri, 0),
                last_status_at=statuses.get(uri, (0, None))[1],
            )
            for uri in uris
        }

    async def accounts(self, uris: Iterable[str]) -> dict[str, JSON]:
        """Account entities by actor URI; unknown URIs are left out."""
        wanted = sorted(set(uris))
        prefix = self.urls.actor("")
        local_names = [u[len(prefix) :] for u in wanted if u.startswith(prefix)]
        remote_uris = [u for u in wanted if not u.startswith(prefix)]
        stats = await self._stats(wanted)
        out: dict[str, JSON] = {}
        if local_names:
            for actor in await self.session.scalars(
                select(LocalActor).where(LocalActor.username.in_(local_names), LocalActor.actor_type != "Application")
            ):
                uri = self.urls.actor(actor.username)
                out[uri] = local_account(actor, self.urls, stats.get(uri, AccountStats()))
        if remote_uris:
            for remote in await self.session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(remote_uris))):
                out[remote.uri] = remote_account(remote, self.urls, stats.get(remote.uri, AccountStats()))
        return out

    async def account(self, uri: str) -> JSON | None:
        return (await self.accounts([uri])).get(uri)

    async def _counts(self, column: Any, uris: list[str]) -> dict[str, int]:
        return await self._grouped(column, uris)

    async def _grouped(self, column: Any, uris: list[str], *where: Any) -> dict[str, int]:
        rows = await self.session.execute(select(column, func.count()).where(column.in_(uris), *where).group_by(column))
        return {uri: count for uri, count in rows}

    async def _viewer_set(self, model: type[Like] | type[Announce], uris: list[str]) -> set[str]:
        if self.viewer_uri is None:
            return set()
        rows = await self.session.scalars(
            select(model.note_uri).where(model.actor_uri == self.viewer_uri, model.note_uri.in_(uris))
        )
        return set(rows)

    async def _viewer_marks(self, note_ids: list[int]) -> tuple[set[int], set[int]]:
        """The viewer's bookmarks and pins among ``note_ids`` (a local viewer's only)."""
        prefix = self.urls.actor("")
        if self.viewer_uri is None or not self.viewer_uri.startswith(prefix):
            return set(), set()
        me = await self.session.scalar(select(LocalActor).where(LocalActor.username == self.viewer_uri[len(prefix) :]))
        if me is None:
            return set(), set()
        return await bookmarks.is_bookmarked(self.session, me, note_ids), await profiles.pinned_among(
            self.session, me, note_ids
        )

    async def statuses(self, notes: Sequence[Note]) -> list[JSON]:
        """Status entities in the order given; notes whose author is unknown are left out."""
        if not notes:
            return []
        uris = [n.uri for n in notes]
        parent_uris = {n.in_reply_to_uri for n in notes if n.in_reply_to_uri}
        parents = (
            {p.uri: p for p in await self.session.scalars(select(Note).where(Note.uri.in_(parent_uris)))}
            if parent_uris
            else {}
        )
        accounts = await self.accounts([n.attributed_to for n in notes] + [p.attributed_to for p in parents.values()])
        media = await attachments_by_note(self.session, [n.id for n in notes])
        likes = await self._counts(Like.note_uri, uris)
        boosts = await self._counts(Announce.note_uri, uris)
        replies = await self._counts(Note.in_reply_to_uri, uris)
        liked = await self._viewer_set(Like, uris)
        boosted = await self._viewer_set(Announce, uris)
        bookmarked, pinned = await self._viewer_marks([n.id for n in notes])
        out: list[JSON] = []
        for note in notes:
            account = accounts.get(note.attributed_to)
            if account is None:
                continue
            parent = parents.get(note.in_reply_to_uri or "")
            parent_account = accounts.get(parent.attributed_to) if parent is not None else None
            ctx = StatusContext(
                account=account,
                media=[media_entity(m, self.urls) for m in media.get(note.id, [])],
                favourites=likes.get(note.uri, 0),
                reblogs=boosts.get(note.uri, 0),
                replies=replies.get(note.uri, 0),
                in_reply_to_id=status_id(parent) if parent is not None else None,
                in_reply_to_account_id=parent_account["id"] if parent_account else None,
                favourited=note.uri in liked,
                reblogged=note.uri in boosted,
                bookmarked=note.id in bookmarked,
                pinned=note.id in pinned,
                viewer=self.viewer_uri is not None,
            )
            out.append(status_entity(note, ctx))
        return out

    async def status(self, note: Note) -> JSON:
        found = await self.statuses([note])
        if not found:
            raise LookupError(f"the author of {note.uri} is unknown")
        return found[0]
