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
# In JSON text, an escape that may decode to NUL or a lone surrogate (a surrogate pair matches too, and
# is then checked string by string).
_MAYBE_BAD_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
# What most URLs look like: scheme, a plain host name, a port of 1 to 5 digits not starting with 0, then
# path, query or fragment. A URL of this shape passes every test of `check_url`'s parse (no userinfo, a
# host, a valid port); anything else takes the parse.
_PLAIN_URL = re.compile(r"(?i:https?)://[A-Za-z0-9.-]*[A-Za-z0-9](?::([1-9][0-9]{0,4}))?(?:[/?#]|$)")


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
        # Decoded as `json.loads` decodes bytes (RFC 8259 §8.1, BOM skipped), so that the text can be
        # searched once for what `_check_string` looks for in every string.
        text = body if isinstance(body, str) else body.decode(json.detect_encoding(body), "surrogatepass")
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_float)
    except RecursionError:
        raise MalformedDocument(f"nested deeper than {limits.max_depth} levels") from None
    except MalformedDocument:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digits limit
        raise MalformedDocument(f"body is not JSON: {exc}") from None
    # A string can only carry NUL or a lone surrogate if the text has one or escapes one, and none is
    # longer than the text: without either, only keys' lengths need looking at.
    clean = (
        len(text) <= limits.max_string
        and _MAYBE_BAD_ESCAPE.search(text) is None
        and ((text.isascii() and "\x00" not in text) or _BAD_CHARS.search(text) is None)
    )
    check_bounds(document, limits, strings_checked=clean)
    return document


def _check_string(value: str, limit: int, what: str) -> None:
    if len(value) > limit:
        raise MalformedDocument(f"{what} longer than {limit} characters")
    if _BAD_CHARS.search(value):
        raise MalformedDocument(f"{what} contains NUL or a lone surrogate")


def check_bounds(document: Any, limits: JsonLimits, *, strings_checked: bool = False) -> None:
    """Walk ``document`` iteratively; raises `MalformedDocument` at the first limit exceeded.

    ``strings_checked``: the caller has shown that no string is too long or carries NUL or a lone
    surrogate (`loads_bounded` does, from the text), so only keys' lengths are checked.
    """
    if isinstance(document, str):
        _check_string(document, limits.max_string, "a string")
        return
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limits.max_depth:
            raise MalformedDocument(f"nested deeper than {limits.max_depth} levels")
        if isinstance(value, dict):
            if len(value) > limits.max_members:
                raise MalformedDocument(f"an object has more than {limits.max_members} members")
            items: Any = value.items()
        elif isinstance(value, list):
            if len(value) > limits.max_array:
                raise MalformedDocument(f"an array has more than {limits.max_array} items")
            items = enumerate(value)
        else:
            continue
        for key, item in items:
            if isinstance(key, str):
                if strings_checked:
                    if len(key) > limits.max_key:
                        raise MalformedDocument(f"a key longer than {limits.max_key} characters")
                else:
                    _check_string(key, limits.max_key, "a key")
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1))
            elif not strings_checked and isinstance(item, str):
                _check_string(item, limits.max_string, "a string")


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
    plain = _PLAIN_URL.match(value)
    if plain is not None and (plain.group(1) is None or int(plain.group(1)) <= 65535):
        if not fragment and "#" in value:
            raise InvalidObject(f"{what}: URL has a fragment")
        return value
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
