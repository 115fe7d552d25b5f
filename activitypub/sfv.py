"""RFC 8941 structured field values: the subset RFC 9421 and RFC 9530 need.

Dictionaries, inner lists, items and parameters, with integer, decimal, string, token, byte-sequence
and boolean bare items (RFC 8941 §3). Dates and display strings (RFC 9651) are not accepted.
A hand-written parser is used because parsing is on the verification hot path: the general
`http-sfv` library spends ~30 µs per `Signature-Input`, more than the RSA verify it precedes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from .errors import StructuredFieldError


class Token(str):
    """An RFC 8941 §3.3.4 token (serialised without quotes)."""

    __slots__ = ()


BareItem = int | float | str | bytes | bool
Params = dict[str, BareItem]


@dataclass(slots=True)
class Item:
    """RFC 8941 §3.3: a bare item with parameters."""

    value: BareItem
    params: Params = field(default_factory=dict)

    def serialize(self) -> str:
        """RFC 8941 §4.1.3 serialisation with parameters."""
        if not self.params:
            return serialize_bare(self.value)
        return serialize_bare(self.value) + serialize_params(self.params)


@dataclass(slots=True)
class InnerList:
    """RFC 8941 §3.1.1: a parenthesised list of items with parameters."""

    items: list[Item]
    params: Params = field(default_factory=dict)
    # The parsed text, kept only when it is already in canonical form (see `_parse_simple_inner_list`).
    canonical: str | None = field(default=None, compare=False, repr=False)

    def serialize(self) -> str:
        """RFC 8941 §4.1.1.1 serialisation; the `@signature-params` value of RFC 9421 §2.3."""
        if self.canonical is not None:
            return self.canonical
        inner = " ".join(item.serialize() for item in self.items)
        return f"({inner}){serialize_params(self.params)}"


Member = Item | InnerList

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_STRING_BODY = re.compile(r'[^"\\]*')
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")
# A dictionary whose members are inner lists of bare strings with string/integer parameters, written
# in canonical form: what every RFC 9421 signer emits for `Signature-Input`.
_SIMPLE_STRING = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'
_SIMPLE_PARAM = r";[a-z*][a-z0-9_\-.*]*=(?:0|-?[1-9][0-9]{0,14}|" + _SIMPLE_STRING + ")"
_SIMPLE_MEMBER = re.compile(
    r"([a-z*][a-z0-9_\-.*]*)=(\((?:"
    + _SIMPLE_STRING
    + r"(?: "
    + _SIMPLE_STRING
    + r")*)?\)((?:"
    + _SIMPLE_PARAM
    + r")*))"
)
_SIMPLE_PARAM_PARTS = re.compile(r';([a-z*][a-z0-9_\-.*]*)=(?:"([^"]*)"|(-?[0-9]+))')


class _Parser:
    """Recursive-descent parser following RFC 8941 §4.2, one method per grammar rule."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, reason: str) -> StructuredFieldError:
        return StructuredFieldError(f"{reason} at offset {self.pos} in {self.text!r}")

    def skip_sp(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] == " ":
            pos += 1
        self.pos = pos

    def skip_ows(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        self.pos = pos

    def key(self) -> str:
        match = _KEY.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a key")
        self.pos = match.end()
        return match.group()

    def bare_item(self) -> BareItem:
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise self.fail("expected an item")
        char = text[pos]
        if char == '"':
            return self.string()
        if char == ":":
            match = _BYTES.match(text, pos)
            if match is None:
                raise self.fail("bad byte sequence")
            self.pos = match.end()
            try:
                return base64.b64decode(match.group(1), validate=True)
            except binascii.Error as exc:
                raise self.fail("bad base64 in byte sequence") from exc
        if char == "?":
            if text[pos + 1 : pos + 2] not in ("0", "1"):
                raise self.fail("bad boolean")
            self.pos = pos + 2
            return text[pos + 1] == "1"
        if char == "-" or char.isdigit():
            match = _NUMBER.match(text, pos)
            if match is None:
                raise self.fail("bad number")
            self.pos = match.end()
            return float(match.group()) if match.group(1) else int(match.group())
        match = _TOKEN.match(text, pos)
        if match is None:
            raise self.fail("unexpected character")
        self.pos = match.end()
        return Token(match.group())

    def string(self) -> str:
        text = self.text
        self.pos += 1
        parts: list[str] = []
        while True:
            match = _STRING_BODY.match(text, self.pos)
            assert match is not None  # the pattern matches the empty string
            parts.append(match.group())
            self.pos = match.end()
            if self.pos >= len(text):
                raise self.fail("unterminated string")
            if text[self.pos] == '"':
                self.pos += 1
                value = "".join(parts)
                if not value.isascii() or not value.isprintable():
                    raise self.fail("non-printable character in string")
                return value
            escaped = text[self.pos + 1 : self.pos + 2]
            if escaped not in ('"', "\\"):
                raise self.fail("bad escape in string")
            parts.append(escaped)
            self.pos += 2

    def params(self) -> Params:
        params: Params = {}
        text = self.text
        while self.pos < len(text) and text[self.pos] == ";":
            self.pos += 1
            self.skip_sp()
            name = self.key()
            value: BareItem = True
            if self.pos < len(text) and text[self.pos] == "=":
                self.pos += 1
                value = self.bare_item()
            params[name] = value
        return params

    def item(self) -> Item:
        value = self.bare_item()
        return Item(value, self.params())

    def member(self) -> Member:
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            return self.inner_list()
        return self.item()

    def inner_list(self) -> InnerList:
        self.pos += 1
        items: list[Item] = []
        text = self.text
        while True:
            self.skip_sp()
            if self.pos >= len(text):
                raise self.fail("unterminated inner list")
            if text[self.pos] == ")":
                self.pos += 1
                return InnerList(items, self.params())
            items.append(self.item())
            if self.pos < len(text) and text[self.pos] not in " )":
                raise self.fail("bad inner list delimiter")

    def dictionary(self) -> dict[str, Member]:
        result: dict[str, Member] = {}
        text = self.text
        self.skip_sp()
        while self.pos < len(text):
            name = self.key()
            if self.pos < len(text) and text[self.pos] == "=":
                self.pos += 1
                result[name] = self.member()
            else:
                result[name] = Item(True, self.params())
            self.skip_ows()
            if self.pos >= len(text):
                return result
            if text[self.pos] != ",":
                raise self.fail("expected a comma")
            self.pos += 1
            self.skip_ows()
            if self.pos >= len(text):
                raise self.fail("trailing comma")
        return result


def parse_dictionary(value: str) -> dict[str, Member]:
    """Parse an RFC 8941 §3.2 dictionary; raises `StructuredFieldError`."""
    value = value.strip(" \t")
    # Fast path for the common one-member byte-sequence shape of `Signature` and `Content-Digest`.
    label, sep, rest = value.partition("=:")
    if sep and rest.endswith(":") and _KEY.fullmatch(label):
        try:
            # validate=True refuses every non-base64 character, so a second member cannot slip through.
            return {label: Item(base64.b64decode(rest[:-1], validate=True), {})}
        except binascii.Error:
            pass  # the general parser below reports the error with its position
    simple = _parse_simple_inner_lists(value)
    if simple is not None:
        return simple
    return _Parser(value).dictionary()


def _simple_inner_list(text: str, params_text: str) -> InnerList | None:
    inner = text[2 : len(text) - len(params_text) - 2]
    # The pattern admits no `"` inside strings, so `" "` only ever separates two items.
    items = [Item(name, {}) for name in inner.split('" "')] if len(text) - len(params_text) > 2 else []
    params: Params = {}
    for name, string, number in _SIMPLE_PARAM_PARTS.findall(params_text):
        if name in params:
            return None  # the general parser applies RFC 8941's last-one-wins rule
        params[name] = int(number) if number else string
    return InnerList(items, params, text)


def _parse_simple_inner_lists(value: str) -> dict[str, Member] | None:
    """Parse `label=("a" "b");k=1;s="x", …` in canonical form with regular expressions, else None.

    The result equals the general parser's, and each inner list keeps its text as `canonical`
    because that text is exactly what serialisation would produce.
    """
    whole = _SIMPLE_MEMBER.fullmatch(value)
    if whole is not None:
        only = _simple_inner_list(whole.group(2), whole.group(3))
        return None if only is None else {whole.group(1): only}
    result: dict[str, Member] = {}
    pos = 0
    for match in _SIMPLE_MEMBER.finditer(value):
        if match.start() != pos:
            return None
        label = match.group(1)
        if label in result:
            return None
        member = _simple_inner_list(match.group(2), match.group(3))
        if member is None:
            return None
        result[label] = member
        pos = match.end()
        if value.startswith(", ", pos):
            pos += 2
        elif pos != len(value):
            return None
    if pos != len(value) or not result or value.endswith(", "):
        return None
    return result


def parse_inner_list(value: str) -> InnerList:
    """Parse one RFC 8941 §3.1.1 inner list with its parameters (a whole string)."""
    parser = _Parser(value)
    if not value.startswith("("):
        raise parser.fail("expected an inner list")
    result = parser.inner_list()
    if parser.pos != len(value):
        raise parser.fail("trailing characters")
    return result


def serialize_bare(value: BareItem) -> str:
    """Serialise a bare item (RFC 8941 §4.1.3)."""
    if type(value) is str and '"' not in value and "\\" not in value:
        return f'"{value}"'
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.1f}"
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serialize_params(params: Params) -> str:
    """Serialise parameters (RFC 8941 §4.1.1.2); a `True` value is written as a bare key."""
    return "".join(f";{k}" if v is True else f";{k}={serialize_bare(v)}" for k, v in params.items())


def serialize_dictionary(members: dict[str, Member]) -> str:
    """Serialise a dictionary (RFC 8941 §4.1.2)."""
    parts = []
    for name, member in members.items():
        if isinstance(member, Item) and member.value is True:
            parts.append(name + serialize_params(member.params))
        else:
            parts.append(f"{name}={member.serialize()}")
    return ", ".join(parts)
