"""Rows to what a page shows: a post card with its author, images, generation parameters and counts.

Remote HTML was sanitised when it arrived; it is sanitised again here, so a template never trusts a
stored string it did not make.
"""

from __future__ import annotations

import base64
import functools
import io
from dataclasses import dataclass
from datetime import datetime

import blurhash  # type: ignore[import-untyped]
from markupsafe import Markup
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain.decorations import decorate
from fediserver.federation.sanitize import plain_text, sanitize_html
from fediserver.models import GenerationJob, LocalActor, MediaAttachment, Note, RemoteActor
from fediserver.notes import generations_by_note
from fediserver.urls import Urls


@dataclass(frozen=True)
class Author:
    name: str
    handle: str
    url: str
    avatar: str | None
    local: bool


@dataclass(frozen=True)
class Picture:
    url: str
    thumb: str
    alt: str
    width: int | None
    height: int | None
    # A data: URI of the decoded blurhash, shown instead of a sensitive image until asked for.
    placeholder: str | None


@dataclass(frozen=True)
class PostCard:
    id: int
    uri: str
    permalink: str
    author: Author
    content: Markup
    summary: str
    sensitive: bool
    published: datetime
    visibility: str
    pictures: list[Picture]
    generation: GenerationJob | None
    likes: int
    boosts: int
    liked: bool
    boosted: bool
    mine: bool
    in_reply_to: str | None
    bookmarked: bool
    # The post was changed after it was published (its earlier versions are kept: ``domain.posts.history``).
    edited: bool


@functools.lru_cache(maxsize=1024)
def blurhash_data_uri(hash_: str, width: int = 32, height: int = 32) -> str | None:
    """The blurhash decoded to a small PNG (the browser scales it up, smoothly blurred); None if invalid."""
    try:
        rows = blurhash.decode(hash_, width, height)
    except (ValueError, IndexError):
        return None
    image = Image.new("RGB", (width, height))
    image.putdata([(int(r), int(g), int(b)) for row in rows for r, g, b in (px[:3] for px in row)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _picture(media: MediaAttachment, urls: Urls, sensitive: bool) -> Picture:
    full = media.remote_url or urls.media(media.storage_key or "")
    placeholder = blurhash_data_uri(media.blurhash) if sensitive and media.blurhash else None
    return Picture(
        url=full,
        thumb=urls.media(media.thumbnail_key) if media.thumbnail_key else full,
        alt=plain_text(media.description or ""),
        width=media.width,
        height=media.height,
        placeholder=placeholder,
    )


async def authors(session: AsyncSession, urls: Urls, uris: set[str]) -> dict[str, Author]:
    """Who each actor URI is, for display: local users and known remote actors; an unknown one by its URI."""
    out: dict[str, Author] = {}
    local_names = {u.rsplit("/", 1)[1] for u in uris if u.startswith(urls.base + "/users/")}
    if local_names:
        for actor in await session.scalars(select(LocalActor).where(LocalActor.username.in_(local_names))):
            out[urls.actor(actor.username)] = Author(
                name=actor.display_name or actor.username,
                handle=urls.handle(actor.username),
                url=urls.profile(actor.username),
                avatar=urls.media(actor.avatar_key) if actor.avatar_key else None,
                local=True,
            )
    remote = uris - set(out)
    if remote:
        for row in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(remote))):
            host = row.domain
            out[row.uri] = Author(
                name=plain_text(row.display_name) or row.preferred_username or row.uri,
                handle=f"@{row.preferred_username}@{host}" if row.preferred_username else row.uri,
                url=row.url or row.uri,
                avatar=row.icon_url if row.icon_url and row.icon_url.startswith("https://") else None,
                local=False,
            )
    for uri in uris - set(out):
        out[uri] = Author(name=uri, handle=uri, url=uri, avatar=None, local=False)
    return out


async def post_cards(session: AsyncSession, urls: Urls, notes: list[Note], me: LocalActor | None) -> list[PostCard]:
    """Cards for ``notes`` in their order, with four or five statements however many notes there are: the
    page's media, counts and the reader's own state come from ``fediserver.domain.decorations``, as the
    Mastodon API's do."""
    if not notes:
        return []
    me_uri = urls.actor(me.username) if me is not None else None
    extra = await decorate(session, notes, me_uri, me.id if me is not None else None, parents=False)
    generations = await generations_by_note(session, notes)
    by_uri = await authors(session, urls, {n.attributed_to for n in notes})
    cards = []
    for note in notes:
        local = note.local_actor_id is not None
        cards.append(
            PostCard(
                id=note.id,
                uri=note.uri,
                permalink=note.url if local and note.url else note.url or note.uri,
                author=by_uri[note.attributed_to],
                content=Markup(note.content if local else sanitize_html(note.content)),
                summary=plain_text(note.summary or ""),
                sensitive=note.sensitive,
                published=note.published_at,
                visibility=note.visibility,
                pictures=[_picture(m, urls, note.sensitive) for m in extra.media.get(note.id, [])],
                generation=generations.get(note.id),
                likes=extra.favourites.get(note.uri, 0),
                boosts=extra.boosts.get(note.uri, 0),
                liked=note.uri in extra.favourited,
                boosted=note.uri in extra.boosted,
                mine=me_uri is not None and note.attributed_to == me_uri,
                in_reply_to=note.in_reply_to_uri,
                bookmarked=note.id in extra.bookmarked,
                edited=note.updated_at is not None,
            )
        )
    return cards
