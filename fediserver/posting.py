"""Local posts: text to HTML, visibility to addressing, attachments stored."""

from __future__ import annotations

import html
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.errors import InvalidInput, NotAvailable
from fediserver.media import LocalMediaStore, check_focus, inspect_image
from fediserver.models import VISIBILITIES, LocalActor, MediaAttachment, Note
from fediserver.urls import Urls

MAX_TEXT = 5000
_URL_RE = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class Addressing:
    to: list[str]
    cc: list[str]


def addressing(visibility: str, followers_url: str, mentions: list[str]) -> Addressing:
    """to/cc as Mastodon reads them (``ActivityPub::Parser::StatusParser#visibility``)."""
    if visibility == "public":
        return Addressing(to=[ap.PUBLIC], cc=[followers_url, *mentions])
    if visibility == "unlisted":
        return Addressing(to=[followers_url], cc=[ap.PUBLIC, *mentions])
    if visibility == "followers":
        return Addressing(to=[followers_url], cc=list(mentions))
    if visibility == "direct":
        return Addressing(to=list(mentions), cc=[])
    raise InvalidInput(f"visibility: expected one of {', '.join(VISIBILITIES)}, got {visibility!r}")


def text_to_html(text: str) -> str:
    """Plain text to the HTML Mastodon expects: paragraphs, line breaks, escaped, links made clickable."""

    def linkify(escaped: str) -> str:
        def repl(match: re.Match[str]) -> str:
            url = match.group(0)
            return f'<a href="{url}" rel="nofollow noopener" target="_blank">{url}</a>'

        return _URL_RE.sub(repl, escaped)

    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(
        "<p>" + "<br>".join(linkify(html.escape(line, quote=True)) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def new_object_key() -> str:
    """Time-ordered, unguessable id for a note's URL: 12 hex digits of milliseconds, 8 random."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


async def create_post(
    session: AsyncSession,
    urls: Urls,
    store: LocalMediaStore,
    actor: LocalActor,
    text: str,
    *,
    visibility: str = "public",
    image: bytes | None = None,
    alt: str = "",
    in_reply_to: Note | None = None,
    focus: tuple[float, float] | None = None,
) -> Note:
    """Store a new local note (and its image) and return it; the caller commits."""
    if not text.strip() and image is None:
        raise InvalidInput("text: a post needs text or an image")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"text: at most {MAX_TEXT} characters")
    if focus is not None and image is None:
        raise InvalidInput("focus: a focal point belongs to an image")
    focus_x, focus_y = check_focus(*focus) if focus is not None else (None, None)
    if visibility == "direct":
        raise NotAvailable(
            "visibility direct needs mentioned accounts resolved over WebFinger, which arrives with "
            "federation (issue 4)"
        )
    # A reply addresses the replied-to author so their server accepts and threads it.
    mentions = [in_reply_to.attributed_to] if in_reply_to is not None else []
    address = addressing(visibility, urls.followers(actor.username), mentions)
    key = new_object_key()
    note = Note(
        uri=urls.note(key),
        url=urls.note(key),
        local_actor_id=actor.id,
        attributed_to=urls.actor(actor.username),
        content=text_to_html(text),
        source_text=text,
        visibility=visibility,
        to=address.to,
        cc=address.cc,
        in_reply_to_uri=in_reply_to.uri if in_reply_to is not None else None,
    )
    session.add(note)
    if image is not None:
        info = inspect_image(image)
        storage_key = store.put(image, info.media_type)
        note.attachments.append(
            MediaAttachment(
                local_actor_id=actor.id,
                storage_key=storage_key,
                media_type=info.media_type,
                width=info.width,
                height=info.height,
                size_bytes=len(image),
                description=alt,
                focus_x=focus_x,
                focus_y=focus_y,
            )
        )
    await session.flush()
    return note
