"""Plain text to HTML exactly as Mastodon's ``TextFormatter`` writes it.

Links are shortened for display (scheme and ``www.`` hidden, the rest cut at 30 characters with an
ellipsis class), mentions are ``h-card`` links to the account's profile, hashtags link to the tag page
with ``rel="tag"``, and paragraphs and line breaks follow Rails' ``simple_format`` with the newlines
removed. Rendering is pure: mentions arrive already resolved (``fediserver.domain.mentions``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from fediserver.text.entities import Entity, extract

_URL_PREFIX_RE = re.compile(r"\A(https?://(www\.)?|xmpp:)", re.IGNORECASE)
_DISPLAY_LENGTH = 30
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})
_PARAGRAPH_RE = re.compile(r"\n\n+")
_LINE_BREAK_RE = re.compile(r"([^\n]\n)(?=[^\n])")


def h(text: str) -> str:
    """ERB's ``h``: the five HTML specials, ``'`` as ``&#39;`` (the vectors depend on it)."""
    return text.translate(_ESCAPES)


@dataclass(frozen=True, slots=True)
class Account:
    """A mentionable account: ``domain`` is None for a local one."""

    username: str
    domain: str | None
    actor_id: str
    profile_url: str

    @property
    def acct(self) -> str:
        return self.username if self.domain is None else f"{self.username}@{self.domain}"


def mention_key(screen_name: str, local_domain: str) -> tuple[str, str | None]:
    """How a written ``user[@host]`` is looked up: lower-cased, None for this instance's own domain."""
    user, _, host = screen_name.partition("@")
    domain = host.lower() or None
    return user.lower(), None if domain == local_domain.lower() else domain


@dataclass(frozen=True, slots=True)
class Rendered:
    html: str
    mentions: list[Account]
    hashtags: list[str]


def shortened_link(url: str) -> str:
    """``TextFormatter.shortened_link`` (without ``rel=me``)."""
    prefix_match = _URL_PREFIX_RE.match(url)
    prefix = prefix_match.group(0) if prefix_match else ""
    rest = url[len(prefix) :]
    display, suffix = rest[:_DISPLAY_LENGTH], rest[_DISPLAY_LENGTH:]
    ellipsis = "ellipsis" if len(rest) > _DISPLAY_LENGTH else ""
    return (
        f'<a href="{h(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{h(prefix)}</span><span class="{ellipsis}">{h(display)}</span>'
        f'<span class="invisible">{h(suffix)}</span></a>'
    )


def _mention_html(account: Account, display: str) -> str:
    return (
        f'<span class="h-card" translate="no"><a href="{h(account.profile_url)}" class="u-url mention">'
        f"@<span>{h(display)}</span></a></span>"
    )


def _hashtag_html(url: str, name: str) -> str:
    return f'<a href="{h(url)}" class="mention hashtag" rel="tag">#<span>{h(name)}</span></a>'


def simple_format(html: str) -> str:
    """Rails' ``simple_format`` with ``sanitize: false``, then ``.delete("\\n")`` as Mastodon does."""
    paragraphs = _PARAGRAPH_RE.split(html.replace("\r\n", "\n").replace("\r", "\n"))
    while len(paragraphs) > 1 and paragraphs[-1] == "":
        paragraphs.pop()  # Ruby's String#split drops trailing empty fields
    return "".join("<p>" + _LINE_BREAK_RE.sub(r"\1<br />", p) + "</p>" for p in paragraphs).replace("\n", "")


def render(
    text: str,
    accounts: Mapping[tuple[str, str | None], Account],
    tag_url: Callable[[str], str],
    *,
    local_domain: str,
    entities: Iterable[Entity] | None = None,
    allow_ports: bool = False,
) -> Rendered:
    """``text`` as HTML; ``accounts`` maps :func:`mention_key` to the resolved account.

    An unresolved mention stays plain ``@user@host`` text, as in Mastodon. The display name is the
    bare username unless two mentioned accounts share it (then ``user@domain``).
    """
    if not text.strip():
        return Rendered("", [], [])
    found = list(entities) if entities is not None else extract(text, allow_ports=allow_ports)
    mentioned: dict[str, Account] = {}
    for entity in found:
        if entity.kind == "mention":
            account = accounts.get(mention_key(entity.value, local_domain))
            if account is not None:
                mentioned.setdefault(account.actor_id, account)
    names: dict[str, int] = {}
    for account in mentioned.values():
        names[account.username.lower()] = names.get(account.username.lower(), 0) + 1
    hashtags: dict[str, str] = {}
    out: list[str] = []
    last = 0
    for entity in found:
        out.append(h(text[last : entity.start]))
        last = entity.end
        if entity.kind == "url":
            out.append(shortened_link(entity.value))
        elif entity.kind == "hashtag":
            hashtags.setdefault(entity.value.lower(), entity.value)
            out.append(_hashtag_html(tag_url(entity.value), entity.value))
        else:
            account = accounts.get(mention_key(entity.value, local_domain))
            if account is None:
                out.append("@" + h(entity.value))
            else:
                display = account.acct if names[account.username.lower()] > 1 else account.username
                out.append(_mention_html(account, display))
    out.append(h(text[last:]))
    return Rendered(simple_format("".join(out)), list(mentioned.values()), list(hashtags.values()))
