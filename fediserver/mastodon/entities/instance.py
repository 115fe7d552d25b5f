"""Instance v2 (docs.joinmastodon.org/entities/Instance/) and V1_Instance, complete as clients read them.

``version`` is ``"4.3.0 (compatible; fediserver X)"``: Mastodon.py and Phanpy read the part before the
first space (clients.md §2.2). Ice Cubes decodes v1 strictly: string ``email``, three ``stats`` integers,
all four ``polls`` fields.
"""

from __future__ import annotations

from typing import Any

from fediserver import __version__
from fediserver.config import Settings
from fediserver.media import FORMAT_TYPES
from fediserver.urls import Urls

JSON = dict[str, Any]
MASTODON_VERSION = "4.3.0"
API_VERSION = 2
MAX_MEDIA = 4
DESCRIPTION_LIMIT = 1500
SOURCE_URL = "https://github.com/fediserver/fediserver"


def version() -> str:
    return f"{MASTODON_VERSION} (compatible; fediserver {__version__})"


def _statuses(settings: Settings) -> JSON:
    return {
        "max_characters": settings.instance.max_characters,
        "max_media_attachments": MAX_MEDIA,
        "characters_reserved_per_url": 23,
    }


def _media(settings: Settings) -> JSON:
    return {
        "supported_mime_types": sorted(FORMAT_TYPES.values()),
        "description_limit": DESCRIPTION_LIMIT,
        "image_size_limit": settings.media.max_upload_bytes,
        "image_matrix_limit": settings.media.max_pixels,
        "video_size_limit": 0,
        "video_frame_rate_limit": 0,
        "video_matrix_limit": 0,
    }


def _polls() -> JSON:
    # No polls yet; the limits are reported so strict decoders (Ice Cubes) accept the configuration.
    return {"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2629746}


def _thumbnail(urls: Urls) -> JSON:
    return {"url": urls.static_placeholder("thumbnail.png"), "blurhash": None, "versions": {}}


def instance_v2(settings: Settings, urls: Urls, active_users: int) -> JSON:
    inst = settings.instance
    access = {"local": "public", "remote": "public"}
    return {
        "domain": urls.domain,
        "title": inst.name,
        "version": version(),
        "source_url": SOURCE_URL,
        "description": inst.description,
        "usage": {"users": {"active_month": active_users}},
        "thumbnail": _thumbnail(urls),
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": {"streaming": urls.streaming, "status": None, "about": urls.base + "/", "privacy_policy": None},
            "vapid": {"public_key": ""},
            "accounts": {"max_featured_tags": 0, "max_pinned_statuses": 0},
            "statuses": _statuses(settings),
            "media_attachments": _media(settings),
            "polls": _polls(),
            "translation": {"enabled": False},
            "limited_federation": False,
            "timelines_access": {
                "live_feeds": dict(access),
                "hashtag_feeds": dict(access),
                "trending_link_feeds": dict(access),
            },
        },
        "registrations": {
            "enabled": inst.registration in ("open", "approval"),
            "approval_required": inst.registration == "approval",
            "message": None,
            "url": None,
            "min_age": None,
            "reason_required": False,
        },
        "api_versions": {"mastodon": API_VERSION},
        "contact": {"email": "", "account": None},
        "rules": [{"id": str(n), "text": rule, "hint": ""} for n, rule in enumerate(inst.rules, 1)],
    }


def instance_v1(settings: Settings, urls: Urls, users: int, statuses: int, domains: int) -> JSON:
    inst = settings.instance
    return {
        "uri": urls.domain,
        "title": inst.name,
        "short_description": inst.description,
        "description": inst.description,
        "email": "",
        "version": version(),
        "urls": {"streaming_api": urls.streaming},
        "stats": {"user_count": users, "status_count": statuses, "domain_count": domains},
        "thumbnail": urls.static_placeholder("thumbnail.png"),
        "languages": ["en"],
        "registrations": inst.registration in ("open", "approval"),
        "approval_required": inst.registration == "approval",
        "invites_enabled": False,
        "configuration": {
            "accounts": {"max_featured_tags": 0},
            "statuses": _statuses(settings),
            "media_attachments": _media(settings),
            "polls": _polls(),
        },
        "contact_account": None,
        "rules": [{"id": str(n), "text": rule, "hint": ""} for n, rule in enumerate(inst.rules, 1)],
    }
