"""Bounded JSON parsing and URL syntax for documents from the network.

`loads_bounded` parses once and checks the whole tree against `JsonLimits` without recursion, so a
document nested a few thousand levels deep is refused with a reason instead of raising `RecursionError`
in the parser or, worse, later in whatever walks the stored copy (the JSON column's serialiser, a
deep copy). Strings carrying NUL or lone surrogates are refused too: PostgreSQL's ``jsonb`` and
``text`` reject both, and UTF-8 cannot encode a lone surrogate (RFC 8259 §8.2 leaves them undefined).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidObject

# What the DB columns that hold ids and URLs can store (String(2048)).
MAX_URL_LENGTH = 2048
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
# Controls and whitespace have no place in an IRI (RFC 3987 §2.2); `urlsplit` would silently drop some.
_URL_FORBIDDEN = re.compile('[\x00-\x20\x7f-\x9f\\\\<>"{}|^`\ud800-\udfff]')


class MalformedDocument(InvalidObject):
    """The body is not JSON, or is JSON beyond the limits (depth, sizes, characters)."""


@dataclass(frozen=True)
class JsonLimits:
    """Bounds on a parsed document; the defaults suit an inbox (federation.md §5, "Limits")."""

    max_depth: int = 64
    max_string: int = 200_000  # characters in one string (long-form articles fit)
    max_key: int = 256  # characters in one object key
    max_array: int = 2_000  # items in one array
    max_members: int = 1_000  # keys in one object


def _reject_constant(name: str) -> Any:
    raise MalformedDocument(f"{name} is not JSON (RFC 8259 §6)")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise MalformedDocument(f"number {text[:40]} is out of range")
    return value


def loads_bounded(body: bytes | str, limits: JsonLimits) -> Any:
    """Parse ``body`` and check it against ``limits``; raises `MalformedDocument` with the reason."""
    try:
        document = json.loads(body, parse_constant=_reject_constant, parse_float=_float)
    except RecursionError:
        raise MalformedDocument(f"nested deeper than {limits.max_depth} levels") from None
    except MalformedDocument:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digits limit
        raise MalformedDocument(f"body is not JSON: {exc}") from None
    check_bounds(document, limits)
    return document


def _check_string(value: str, limit: int, what: str) -> None:
    if len(value) > limit:
        raise MalformedDocument(f"{what} longer than {limit} characters")
    if _BAD_CHARS.search(value):
        raise MalformedDocument(f"{what} contains NUL or a lone surrogate")


def check_bounds(document: Any, limits: JsonLimits) -> None:
    """Walk ``document`` iteratively; raises `MalformedDocument` at the first limit exceeded."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_string(value, limits.max_string, "a string")
        elif isinstance(value, dict):
            if depth > limits.max_depth:
                raise MalformedDocument(f"nested deeper than {limits.max_depth} levels")
            if len(value) > limits.max_members:
                raise MalformedDocument(f"an object has more than {limits.max_members} members")
            for key, item in value.items():
                _check_string(key, limits.max_key, "a key")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > limits.max_depth:
                raise MalformedDocument(f"nested deeper than {limits.max_depth} levels")
            if len(value) > limits.max_array:
                raise MalformedDocument(f"an array has more than {limits.max_array} items")
            stack.extend((item, depth + 1) for item in value)


def check_url(value: Any, what: str, *, fragment: bool = True) -> str:
    """``value`` as an absolute http(s) URL that our columns can hold; raises `InvalidObject`.

    Refused: other schemes, no host, userinfo (``https://user@host/`` hides the real host from a
    reader), a bad port, controls, whitespace or characters RFC 3987 excludes, more than
    `MAX_URL_LENGTH` characters, and a fragment where ``fragment`` is false.
    """
    if not isinstance(value, str):
        raise InvalidObject(f"{what}: expected a URL string, got {type(value).__name__}")
    if len(value) > MAX_URL_LENGTH:
        raise InvalidObject(f"{what}: URL longer than {MAX_URL_LENGTH} characters")
    if _URL_FORBIDDEN.search(value):
        raise InvalidObject(f"{what}: URL contains whitespace, controls or forbidden characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise InvalidObject(f"{what}: not a URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidObject(f"{what}: not an absolute http(s) URL")
    if "@" in parts.netloc:
        raise InvalidObject(f"{what}: URL has userinfo")
    if port == 0:
        raise InvalidObject(f"{what}: URL has port 0")
    if not fragment and "#" in value:
        raise InvalidObject(f"{what}: URL has a fragment")
    return value
