"""Custom emoji of remote posts: read from ``Emoji`` tags (checklist 15) and shown as images by reference.

An ``Emoji`` tag is ``{"type": "Emoji", "name": ":blobcat:", "icon": {"type": "Image", "url": ...}}``
(Mastodon's ``ActivityPub::Parser``); the post's text keeps the ``:shortcode:``. We keep the remote URL
(no copy) and, when showing the post, replace the shortcode in text (never inside a tag or attribute)
with an ``<img>`` pointing at it, as Mastodon's web client does.
"""

from __future__ import annotations

import re
from typing import Any

import activitypub as ap
from fediserver.text.formatter import h

SHORTCODE_RE = re.compile(r"^:([a-zA-Z0-9_]{2,}):$")
_IN_TEXT_RE = re.compile(r":([a-zA-Z0-9_]{2,}):")
_TAG_SPLIT_RE = re.compile(r"(<[^>]*>)")
MAX_EMOJI = 100


def _icon_url(icon: Any) -> str | None:
    for item in ap.as_list(icon):
        url = item.get("url") if isinstance(item, dict) else item
        url = ap.get_id(url)
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            return url
    return None


def emojis_from_tags(tags: Any) -> list[dict[str, str]]:
    """``[{"shortcode", "url"}]`` for each well-formed ``Emoji`` tag, first of each shortcode kept."""
    out: dict[str, str] = {}
    for item in ap.as_list(tags):
        if not isinstance(item, dict) or not ap.has_type(item, "Emoji"):
            continue
        match = SHORTCODE_RE.match(item.get("name") or "") if isinstance(item.get("name"), str) else None
        url = _icon_url(item.get("icon"))
        if match is None or url is None or len(url) > 2048:
            continue
        out.setdefault(match.group(1), url)
        if len(out) >= MAX_EMOJI:
            break
    return [{"shortcode": code, "url": url} for code, url in out.items()]


def emojify(html: str, emojis: list[dict[str, str]]) -> str:
    """``html`` with each known ``:shortcode:`` in its text replaced by the emoji's image."""
    if not emojis:
        return html
    urls = {e["shortcode"]: e["url"] for e in emojis}

    def image(match: re.Match[str]) -> str:
        url = urls.get(match.group(1))
        if url is None:
            return match.group(0)
        code = h(match.group(0))
        return f'<img src="{h(url)}" alt="{code}" title="{code}" class="custom-emoji" draggable="false">'

    parts = _TAG_SPLIT_RE.split(html)
    return "".join(part if part.startswith("<") else _IN_TEXT_RE.sub(image, part) for part in parts)
