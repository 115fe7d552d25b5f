"""MediaAttachment (docs.joinmastodon.org/entities/MediaAttachment/).

``meta.focus`` is always two floats (Tusky crashed on a null ``y``); ``description`` is null when empty.
"""

from __future__ import annotations

from typing import Any

from fediserver.mastodon.ids import snowflake
from fediserver.models import MediaAttachment
from fediserver.urls import Urls

JSON = dict[str, Any]
SMALL_SIDE = 640  # the preview's longer side; our thumbnails are this size or smaller


def _size(width: int, height: int) -> JSON:
    return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": width / height}


def _type(media_type: str) -> str:
    head = media_type.split("/", 1)[0]
    return head if head in ("image", "video", "audio") else "unknown"


def media_entity(media: MediaAttachment, urls: Urls) -> JSON:
    local = media.storage_key is not None
    url = urls.media(media.storage_key) if media.storage_key else media.remote_url
    preview = urls.media(media.thumbnail_key) if media.thumbnail_key else url
    meta: JSON = {"focus": {"x": float(media.focus_x or 0.0), "y": float(media.focus_y or 0.0)}}
    if media.width and media.height:
        meta["original"] = _size(media.width, media.height)
        scale = min(1.0, SMALL_SIDE / max(media.width, media.height))
        meta["small"] = _size(max(1, round(media.width * scale)), max(1, round(media.height * scale)))
    return {
        "id": snowflake(media.created_at, media.id),
        "type": _type(media.media_type),
        "url": url,
        "preview_url": preview,
        "remote_url": None if local else media.remote_url,
        "preview_remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": media.description or None,
        "blurhash": media.blurhash,
    }
