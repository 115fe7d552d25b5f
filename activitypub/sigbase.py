"""RFC 9421 §2: the message model, component values and the signature base.

Covers HTTP fields (§2.1, without the `sf`, `key`, `bs`, `req` and `tr` parameters) and the derived
components of §2.2: `@method`, `@target-uri`, `@authority`, `@scheme`, `@request-target`, `@path`,
`@query`, `@query-param` and `@status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlsplit

from .errors import SignatureError
from .sfv import InnerList, Item


class HttpMessage:
    """The parts of a request or response a signature can cover (RFC 9421 §2).

    `headers` may use any case; repeated fields must already be joined with `, ` (RFC 9421 §2.1).
    A response has `status` set and `method`/`url` unset.
    """

    __slots__ = ("_lower", "headers", "method", "status", "url")

    def __init__(
        self,
        headers: Mapping[str, str],
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
    ) -> None:
        self.headers = headers
        self.method = method
        self.url = url
        self.status = status
        self._lower = {k.lower(): v for k, v in headers.items()}

    def header(self, name: str) -> str | None:
        """A field value by lowercase name, or None."""
        return self._lower.get(name)


def _url_parts(message: HttpMessage) -> tuple[str, str, str, str]:
    if message.url is None:
        raise SignatureError("a request-derived component needs the request URL")
    parts = urlsplit(message.url)
    if parts.hostname is None:
        raise SignatureError(f"URL has no host: {message.url!r}")
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    authority = parts.hostname.lower()
    if parts.port is not None and parts.port != default:
        authority = f"{authority}:{parts.port}"
    return parts.scheme.lower(), authority, parts.path or "/", parts.query


def component_value(message: HttpMessage, component: Item) -> str:
    """Derive one component's value (RFC 9421 §2.1 fields, §2.2 derived components)."""
    name = component.value
    if not isinstance(name, str) or isinstance(name, bytes):
        raise SignatureError(f"component identifier must be a string, got {name!r}")
    if component.params:
        unsupported = set(component.params) - ({"name"} if name == "@query-param" else set())
        if unsupported:
            raise SignatureError(f"unsupported component parameters {sorted(unsupported)} on {name!r}")
    if not name.startswith("@"):
        value = message.header(name)
        if value is None:
            raise SignatureError(f"covered field {name!r} is missing from the message")
        return value.strip()
    if name == "@status":
        if message.status is None:
            raise SignatureError("@status is only defined for responses")
        return f"{message.status:03d}"
    if name == "@method":
        if message.method is None:
            raise SignatureError("@method is only defined for requests")
        return message.method
    if name == "@target-uri":
        if message.url is None:
            raise SignatureError("@target-uri needs the request URL")
        return message.url
    scheme, authority, path, query = _url_parts(message)
    if name == "@authority":
        return authority
    if name == "@scheme":
        return scheme
    if name == "@path":
        return path
    if name == "@query":
        return "?" + query
    if name == "@request-target":
        return f"{path}?{query}" if query else path
    if name == "@query-param":
        wanted = component.params.get("name")
        if not isinstance(wanted, str):
            raise SignatureError("@query-param needs a string name parameter")
        values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == wanted]
        if len(values) != 1:
            raise SignatureError(f"@query-param {wanted!r} occurs {len(values)} times")
        return quote(values[0], safe="")
    raise SignatureError(f"unknown derived component {name!r}")


def signature_base(message: HttpMessage, components: InnerList) -> str:
    """Build the signature base (RFC 9421 §2.5), ending with the `@signature-params` line."""
    lines = []
    seen: set[str] = set()
    for component in components.items:
        identifier = component.serialize()
        if identifier in seen:
            raise SignatureError(f"component {identifier} is covered twice")
        seen.add(identifier)
        lines.append(f"{identifier}: {component_value(message, component)}")
    lines.append(f'"@signature-params": {components.serialize()}')
    return "\n".join(lines)
