"""OAuth scopes as Mastodon defines them (docs.joinmastodon.org/api/oauth-scopes/), parsed once.

``read``, ``write`` and ``follow`` cover their granular children; ``follow`` is the legacy scope for
``read:follows read:blocks read:mutes write:follows write:blocks write:mutes``. ``generate`` and ``assist``
are ours: the generation API and writing help.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

READ = [
    "accounts",
    "blocks",
    "bookmarks",
    "favourites",
    "filters",
    "follows",
    "lists",
    "mutes",
    "notifications",
    "search",
    "statuses",
]
WRITE = [
    "accounts",
    "blocks",
    "bookmarks",
    "conversations",
    "favourites",
    "filters",
    "follows",
    "lists",
    "media",
    "mutes",
    "notifications",
    "reports",
    "statuses",
]
FOLLOW_CHILDREN = frozenset(
    {"read:follows", "read:blocks", "read:mutes", "write:follows", "write:blocks", "write:mutes"}
)
TOP_LEVEL = ("read", "write", "follow", "push", "profile", "generate", "assist")
KNOWN: frozenset[str] = frozenset(
    [*TOP_LEVEL, *(f"read:{s}" for s in READ), *(f"write:{s}" for s in WRITE), "admin:read", "admin:write"]
)
DEFAULT = "read"
_SPLIT = re.compile(r"[\s+]+")


class InvalidScope(ValueError):
    """A scope we do not know; the message names it."""


@dataclass(frozen=True)
class Scopes:
    """A set of granted scopes; ``allows`` answers with Mastodon's hierarchy."""

    names: frozenset[str]

    @classmethod
    def parse(cls, text: str | None, *, default: str = DEFAULT) -> Scopes:
        """Scopes separated by spaces or ``+`` (GoToSocial had to accept ``+``: clients.md row 11)."""
        names = frozenset(s for s in _SPLIT.split(text or "") if s) or frozenset(default.split())
        unknown = sorted(names - KNOWN)
        if unknown:
            raise InvalidScope(f"unknown scope {unknown[0]!r}")
        return cls(names)

    def allows(self, needed: str) -> bool:
        if needed in self.names:
            return True
        parent = needed.split(":", 1)[0]
        if parent in ("read", "write") and parent in self.names:
            return True
        return needed in FOLLOW_CHILDREN and "follow" in self.names

    def within(self, other: Scopes) -> bool:
        """Every scope here is granted by ``other`` (an app's registered scopes bound what it may ask)."""
        return all(other.allows(name) for name in self.names)

    def __str__(self) -> str:
        return " ".join(
            sorted(self.names, key=lambda s: (s not in TOP_LEVEL, TOP_LEVEL.index(s) if s in TOP_LEVEL else 0, s))
        )
