"""Links, mentions and hashtags in plain text, with their positions (Mastodon's ``Extractor``).

The patterns follow Mastodon: ``Account::MENTION_RE``, ``Tag::HASHTAG_RE`` and twitter-text's URL
extraction as Mastodon configures it (``extract_url_without_protocol: false``, so only ``http(s)://``,
``xmpp:`` and ``magnet:`` links). Overlapping entities keep the one that starts first
(``Extractor.remove_overlapping_entities``), so a ``#`` or ``@`` inside a link stays part of the link.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Kind = Literal["url", "mention", "hashtag"]

# Characters that end a URL's path: white space (the full-width space too), HTML brackets and quotes,
# and CJK corner brackets (text_formatter_spec: 'a URL in Japanese quotation marks').
_PATH = r"[^\s<>\"「」『』【】〈〉《》]"
_LABEL = r"(?:[^\W_](?:[\w-]*[^\W_])?)"
_WEB = rf"https?://{_LABEL}(?:\.{_LABEL})+(?::\d{{1,5}})?(?:[/?#]{_PATH}*)?(?![\w\\])"
_XMPP = r"xmpp:[\w.+-]+@[\w-]+(?:\.[\w-]+)+(?:\?[\w=&;]+)?"
_MAGNET = rf"magnet:\?{_PATH}+"
_URL_RE = re.compile(rf"(?:{_WEB}|{_XMPP}|{_MAGNET})", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*"

_USERNAME = r"[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*"
_HOST = r"\w+(?:[.-]+\w+)*"
# The patterns start with a literal (a scheme, '@' or '#') so the regex engine can skip ahead to it; what may
# not precede them (Mastodon's lookbehinds ``(?<![=/[:word:]])`` and ``(?<![=/)\p{Alnum}])``) is
# checked in :func:`_preceded_by`.
_MENTION_RE = re.compile(rf"@({_USERNAME}(?:@{_HOST})?)", re.IGNORECASE)
_MENTION_PORT_RE = re.compile(rf"@({_USERNAME}(?:@{_HOST}(?::\d{{1,5}})?)?)", re.IGNORECASE)

_TAG_SEPARATORS = "\u00b7\u30fb\u200c"
_HASHTAG_RE = re.compile(rf"#([\w{_TAG_SEPARATORS}]+)")


def _preceded_by(text: str, index: int, forbidden: str) -> bool:
    """True when the character before ``index`` is a word character or one of ``forbidden``."""
    if index == 0:
        return False
    before = text[index - 1]
    return before in forbidden or before.isalnum() or before == "_"


@dataclass(frozen=True, slots=True)
class Entity:
    """``text[start:end]`` is the entity as written; ``value`` is the URL, ``user[@host]`` or tag name."""

    start: int
    end: int
    kind: Kind
    value: str


def _trim_url(url: str) -> str:
    """Drop trailing punctuation and unbalanced closing brackets, as twitter-text does."""
    while url:
        last = url[-1]
        unbalanced = (last == ")" and url.count("(") < url.count(")")) or (
            last == "]" and url.count("[") < url.count("]")
        )
        if last not in _TRAILING and not unbalanced:
            break
        url = url[:-1]
    return url


def _urls(text: str) -> list[Entity]:
    out = []
    for match in _URL_RE.finditer(text):
        if _preceded_by(text, match.start(), "@/.:"):
            continue
        url = _trim_url(match.group(0))
        if url.endswith("://") or url.endswith(":"):
            continue
        out.append(Entity(match.start(), match.start() + len(url), "url", url))
    return out


def _mentions(text: str, allow_ports: bool) -> list[Entity]:
    pattern = _MENTION_PORT_RE if allow_ports else _MENTION_RE
    return [
        Entity(m.start(), m.end(), "mention", m.group(1))
        for m in pattern.finditer(text)
        if not _preceded_by(text, m.start(), "=/")
    ]


def _hashtags(text: str) -> list[Entity]:
    out = []
    for match in _HASHTAG_RE.finditer(text):
        if _preceded_by(text, match.start(), "=/)"):
            continue
        name = match.group(1).rstrip(_TAG_SEPARATORS)
        # Mastodon's HASHTAG_NAME_PAT needs a letter: '#123' is not a tag.
        if not any(c.isalpha() for c in name) or name[0] in _TAG_SEPARATORS:
            continue
        out.append(Entity(match.start(), match.start(1) + len(name), "hashtag", name))
    return out


def extract(text: str, *, allow_ports: bool = False) -> list[Entity]:
    """Every entity in ``text``, in order, without overlaps.

    ``allow_ports`` lets a mention's host carry a ``:port`` (``@alice@127.0.0.1:8001``): only for local
    development, where instances run on loopback ports; Mastodon has no such form.
    """
    found = sorted([*_urls(text), *_mentions(text, allow_ports), *_hashtags(text)], key=lambda e: e.start)
    kept: list[Entity] = []
    for entity in found:
        if kept and entity.start < kept[-1].end:
            continue
        kept.append(entity)
    return kept


def normalize_tag(name: str) -> str:
    """The form a hashtag is stored and looked up by: NFKC, case-folded (``HashtagNormalizer``)."""
    return unicodedata.normalize("NFKC", name).casefold()
