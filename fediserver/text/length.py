"""A post's length as Mastodon counts it (``StatusLengthValidator``).

Every link counts as 23 characters whatever its length, and a mention of a remote account counts only
its ``@user`` part; the content warning counts too. Mastodon counts grapheme clusters; this counts
code points, less the marks that join a cluster (combining marks, variation selectors, emoji
modifiers, zero-width joiners and what they join, the second of a flag's two regional indicators).
"""

from __future__ import annotations

import unicodedata

from fediserver.text.entities import extract

URL_LENGTH = 23
_ZWJ = "\u200d"


def _is_extender(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.combining(char) != 0
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or unicodedata.category(char) in ("Mn", "Me")
    )


def grapheme_count(text: str) -> int:
    count = 0
    joined = False
    regional_open = False
    for char in text:
        if char == _ZWJ:
            joined = True
            continue
        if joined or _is_extender(char):
            joined = False
            continue
        if 0x1F1E6 <= ord(char) <= 0x1F1FF:
            if regional_open:
                regional_open = False
                continue
            regional_open = True
        else:
            regional_open = False
        count += 1
    return count


def countable_text(text: str, *, allow_ports: bool = False) -> str:
    """``text`` with each link as 23 ``x`` and each ``@user@host`` as ``@user``."""
    out: list[str] = []
    last = 0
    for entity in extract(text, allow_ports=allow_ports):
        if entity.kind == "hashtag":
            continue
        out.append(text[last : entity.start])
        out.append("x" * URL_LENGTH if entity.kind == "url" else "@" + entity.value.split("@", 1)[0])
        last = entity.end
    out.append(text[last:])
    return "".join(out)


def post_length(text: str, summary: str = "", *, allow_ports: bool = False) -> int:
    """Mastodon's ``total_length``: the content warning plus the countable text."""
    return grapheme_count(summary + countable_text(text, allow_ports=allow_ports))


def fit(text: str, limit: int, *, allow_ports: bool = False) -> str:
    """``text`` cut (with an ellipsis) to at most ``limit`` characters as :func:`post_length` counts them."""
    if post_length(text, allow_ports=allow_ports) <= limit:
        return text
    cut = text
    while cut:
        over = post_length(cut + "…", allow_ports=allow_ports) - limit
        if over <= 0:
            break
        cut = cut[: len(cut) - over]
    return cut.rstrip() + "…"
