"""Content negotiation between ActivityStreams JSON and HTML (federation.md §1.4, checklist 7)."""

from __future__ import annotations

AS2_TYPES = ("application/activity+json", "application/ld+json")


def _ranges(accept: str) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        out.append((media, q))
    return out


def wants_activity_json(accept: str | None) -> bool:
    """True when the client prefers an AS2 type over HTML.

    Any AS2 type (``application/activity+json``, ``application/ld+json`` with or without a profile) wins
    unless ``text/html`` is offered with a higher q. A bare ``*/*`` or no Accept gets HTML, as Mastodon
    does for browsers.
    """
    if not accept:
        return False
    ranges = _ranges(accept)
    as2 = max((q for media, q in ranges if media in AS2_TYPES), default=0.0)
    html = max((q for media, q in ranges if media in ("text/html", "application/xhtml+xml")), default=0.0)
    return as2 > 0 and as2 >= html
