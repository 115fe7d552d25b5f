"""Body digests: cavage-era `Digest` (RFC 3230) and `Content-Digest` (RFC 9530).

Both are computed over the exact body bytes sent; re-serialising JSON after signing breaks them
(federation.md §4, failure 1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from .errors import DigestError, StructuredFieldError
from .sfv import Item, Member, parse_dictionary, serialize_dictionary

_HASHES = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def digest_header(body: bytes) -> str:
    """`Digest: SHA-256=<base64>` as Mastodon sends it (RFC 3230 §4.3.2, RFC 5843)."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def verify_digest_header(value: str, body: bytes) -> None:
    """Check a `Digest` header: a `SHA-256` member (case-insensitive, one of several) must match.

    Mirrors Mastodon's `signature_verification.rb`; the error names the computed and the given value.
    """
    members: dict[str, str] = {}
    for part in value.split(","):
        name, sep, given = part.strip().partition("=")
        if sep:
            members[name.strip().lower()] = given.strip()
    if "sha-256" not in members:
        raise DigestError(f"Digest has no SHA-256 member: {value!r}")
    computed = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    if not hmac.compare_digest(computed, members["sha-256"]):
        raise DigestError(f"Invalid Digest value. Computed SHA-256 digest: {computed}; given: {members['sha-256']}")


def content_digest_header(body: bytes, algorithms: tuple[str, ...] = ("sha-256",)) -> str:
    """`Content-Digest` (RFC 9530 §2) for the given algorithms, e.g. `sha-256=:…:`."""
    members: dict[str, Member] = {}
    for name in algorithms:
        if name not in _HASHES:
            raise DigestError(f"unsupported Content-Digest algorithm {name!r}")
        members[name] = Item(_HASHES[name](body).digest())
    return serialize_dictionary(members)


def verify_content_digest(value: str, body: bytes, required: str | None = "sha-256") -> None:
    """Check `Content-Digest` (RFC 9530 §2): every known algorithm present must match.

    `required` names an algorithm that must be present (Mastodon requires `sha-256`); unknown
    algorithms are ignored (RFC 9530 §2 lets recipients skip them).
    """
    try:
        members = parse_dictionary(value)
    except StructuredFieldError as exc:
        raise DigestError(f"malformed Content-Digest: {exc}") from exc
    if required is not None and required not in members:
        raise DigestError(f"Content-Digest has no {required} member: {value!r}")
    checked = 0
    for name, member in members.items():
        if name not in _HASHES:
            continue
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise DigestError(f"Content-Digest member {name} is not a byte sequence")
        computed = _HASHES[name](body).digest()
        if not hmac.compare_digest(computed, member.value):
            given = base64.b64encode(member.value).decode("ascii")
            raise DigestError(
                f"Invalid Content-Digest {name}. Computed: {base64.b64encode(computed).decode('ascii')}; given: {given}"
            )
        checked += 1
    if checked == 0:
        raise DigestError(f"Content-Digest has no supported algorithm: {value!r}")
