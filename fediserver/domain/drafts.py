"""Drafts: a post or an edit as an interface received it, and the rules checked before publishing
(addressing by visibility, length, upload rows), shared by ``fediserver.domain.posts`` and every interface.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import activitypub as ap
from fediserver.domain import edit_media
from fediserver.domain.services import Services
from fediserver.errors import InvalidInput
from fediserver.media import StoredImage, check_focus
from fediserver.models import VISIBILITIES, LocalActor, MediaAttachment
from fediserver.text.length import post_length


@dataclass(frozen=True)
class PostDraft:
    """A new post as an interface received it. ``footer`` is a paragraph appended after the text and not
    counted against the limit (the AI disclosure of generated images). ``assisted`` says the writing
    assistant rewrote the text: the post then carries ``assist.disclosure_text`` too, unless the admin
    turned ``assist.disclosure`` off."""

    text: str = ""
    visibility: str = "public"
    summary: str = ""
    sensitive: bool = False
    in_reply_to: str | None = None
    image: StoredImage | None = None
    alt: str = ""
    # The image's focal point, Mastodon's ``focus`` (x, y in [-1, 1]), sent as ``focalPoint``.
    focus: tuple[float, float] | None = None
    footer: str = ""
    assisted: bool = False
    # Actor URIs addressed beyond the text's mentions (an ActivityPub client's ``to``/``cc``), and the
    # recipients delivered to but never shown (``bto``/``bcc``, ActivityPub §6: removed before delivery).
    addressees: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class PostEdit:
    """The post's new text. ``media``, when given, replaces its attachments in that order (uploads of the
    author not on another post); ``media_changes`` edit attachments it keeps."""

    text: str
    summary: str = ""
    sensitive: bool = False
    media: tuple[MediaAttachment, ...] | None = None
    media_changes: tuple[edit_media.MediaChange, ...] = ()


@dataclass(frozen=True)
class Addressing:
    to: list[str]
    cc: list[str]


def addressing(visibility: str, followers_url: str, mentions: Sequence[str]) -> Addressing:
    """to/cc as Mastodon writes them and reads them back (``StatusParser#visibility``, checklist 13)."""
    if visibility == "public":
        return Addressing(to=[ap.PUBLIC], cc=[followers_url, *mentions])
    if visibility == "unlisted":
        return Addressing(to=[followers_url], cc=[ap.PUBLIC, *mentions])
    if visibility == "followers":
        return Addressing(to=[followers_url], cc=list(mentions))
    if visibility == "direct":
        return Addressing(to=list(mentions), cc=[])
    raise InvalidInput(f"visibility: expected one of {', '.join(VISIBILITIES)}, got {visibility!r}")


def new_object_key() -> str:
    """Time-ordered, unguessable id for a note's URL: 12 hex digits of milliseconds, 8 random."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def dev_mode(svc: Services) -> bool:
    """Local development: mentions may carry a :port, and handles resolve over http."""
    return svc.fed.webfinger_scheme == "http"


def check_length(svc: Services, text: str, summary: str) -> None:
    limit = svc.settings.instance.max_characters
    length = post_length(text, summary, allow_ports=dev_mode(svc))
    if length > limit:
        raise InvalidInput(f"text: {length} characters, at most {limit} (a link counts as 23)")


def attachment_for(
    owner: LocalActor, image: StoredImage, alt: str, focus: tuple[float, float] | None = None
) -> MediaAttachment:
    """The attachment row of an upload stored by ``media.ingest_upload``, not yet on a post; ``focus`` is
    Mastodon's focal point, checked to [-1, 1]. Every interface builds upload rows here."""
    focus_x, focus_y = check_focus(*focus) if focus is not None else (None, None)
    return MediaAttachment(
        local_actor_id=owner.id,
        storage_key=image.storage_key,
        thumbnail_key=image.thumbnail_key,
        media_type=image.media_type,
        width=image.width,
        height=image.height,
        size_bytes=image.size_bytes,
        blurhash=image.blurhash,
        description=alt,
        focus_x=focus_x,
        focus_y=focus_y,
    )
