"""draft-cavage-http-signatures-12 as Mastodon and GoToSocial use it.

Signing follows Mastodon's `request.rb`: POST covers `(request-target) host date digest content-type`,
GET covers `(request-target) host date`, and `(request-target)` includes the query string (Mastodon ≥ 4.3,
mastodon#31994). Verification follows `signature_verification.rb` (federation.md §2.2).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from .digest import digest_header, verify_digest_header
from .errors import KeyMismatchError, SignatureError
from .keys import PrivateKey, PublicKey
from .window import check_window, http_date, parse_http_date

ALGORITHMS = ("rsa-sha256", "hs2019")
POST_HEADERS = ("(request-target)", "host", "date", "digest", "content-type")
GET_HEADERS = ("(request-target)", "host", "date")

_PARAM = re.compile(r'\s*([a-zA-Z]+)\s*=\s*(?:"([^"]*)"|([0-9]+))\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class CavageSignature:
    """A parsed `Signature` header (draft-cavage-12 §2.1)."""

    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes
    created: int | None = None
    expires: int | None = None


def parse_signature_header(value: str) -> CavageSignature:
    """Parse a `Signature` header (draft-cavage-12 §2.1).

    A missing `algorithm` means hs2019 and a missing `headers` means `(created)`, as Mastodon reads them.
    """
    params: dict[str, str] = {}
    pos = 0
    for match in _PARAM.finditer(value):
        if match.start() != pos or match.end() == pos:
            raise SignatureError(f"malformed Signature header near offset {pos}")
        name = match.group(1)
        if name in params:
            raise SignatureError(f"duplicate Signature parameter {name!r}")
        params[name] = match.group(2) if match.group(2) is not None else match.group(3)
        pos = match.end()
        if pos == len(value):
            break
    if pos != len(value):
        raise SignatureError(f"malformed Signature header near offset {pos}")
    if "keyId" not in params or "signature" not in params:
        raise SignatureError("Signature header lacks keyId or signature")
    try:
        raw = base64.b64decode(params["signature"], validate=True)
    except binascii.Error as exc:
        raise SignatureError("signature is not valid base64") from exc
    covered = tuple(params.get("headers", "(created)").lower().split())
    return CavageSignature(
        key_id=params["keyId"],
        algorithm=params.get("algorithm", "hs2019").lower(),
        headers=covered,
        signature=raw,
        created=int(params["created"]) if "created" in params else None,
        expires=int(params["expires"]) if "expires" in params else None,
    )


def format_signature_header(signature: CavageSignature) -> str:
    """Serialise a `Signature` header in Mastodon's parameter order."""
    parts = [f'keyId="{signature.key_id}"', f'algorithm="{signature.algorithm}"']
    if signature.created is not None:
        parts.append(f"created={signature.created}")
    if signature.expires is not None:
        parts.append(f"expires={signature.expires}")
    parts.append(f'headers="{" ".join(signature.headers)}"')
    parts.append(f'signature="{base64.b64encode(signature.signature).decode("ascii")}"')
    return ",".join(parts)


def signing_string(
    covered: tuple[str, ...],
    method: str,
    target: str,
    headers: Mapping[str, str],
    created: int | None = None,
    expires: int | None = None,
) -> str:
    """Build the signing string (draft-cavage-12 §2.3); `headers` must have lowercase names.

    `target` is the path with its query, e.g. `/users/alice/inbox?page=1`.
    """
    lines = []
    for name in covered:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name == "(created)":
            if created is None:
                raise SignatureError("(created) is covered but the created parameter is missing")
            lines.append(f"(created): {created}")
        elif name == "(expires)":
            if expires is None:
                raise SignatureError("(expires) is covered but the expires parameter is missing")
            lines.append(f"(expires): {expires}")
        else:
            value = headers.get(name)
            if value is None:
                raise SignatureError(f"signed header {name!r} is missing from the request")
            lines.append(f"{name}: {value.strip()}")
    return "\n".join(lines)


def _target(url: str, include_query: bool = True) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if include_query and parts.query else path


def _host(url: str) -> str:
    parts = urlsplit(url)
    if parts.hostname is None:
        raise SignatureError(f"URL has no host: {url!r}")
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.hostname
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def _sign_bytes(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise SignatureError(f"cavage signing does not support {type(key).__name__}")


def sign_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key: PrivateKey,
    now: datetime,
    algorithm: str = "rsa-sha256",
) -> dict[str, str]:
    """Sign a request; returns the headers to send (given ones plus Host, Date, Digest, Signature).

    POST covers `(request-target) host date digest content-type` (content-type when present), other
    methods `(request-target) host date`. The Date is `now`; callers re-sign on every retry.
    """
    if algorithm not in ALGORITHMS:
        raise SignatureError(f"unsupported cavage algorithm {algorithm!r}")
    if algorithm == "rsa-sha256" and not isinstance(private_key, rsa.RSAPrivateKey):
        raise SignatureError("rsa-sha256 needs an RSA key")
    out = {name.lower(): value for name, value in headers.items()}
    out["host"] = _host(url)
    out["date"] = http_date(now.astimezone(UTC))
    covered: tuple[str, ...] = GET_HEADERS
    if body is not None:
        out["digest"] = digest_header(body)
        covered = POST_HEADERS if "content-type" in out else POST_HEADERS[:4]
    text = signing_string(covered, method, _target(url), out)
    signature = CavageSignature(key_id, algorithm, covered, _sign_bytes(private_key, text.encode("utf-8")))
    out["signature"] = format_signature_header(signature)
    return out


def _verify_bytes(key: PublicKey, algorithm: str, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey) and algorithm == "hs2019":
            key.verify(signature, data)
        else:
            raise KeyMismatchError(f"{algorithm} cannot be verified with a {type(key).__name__}")
    except InvalidSignature:
        return False
    return True


def _check_coverage(sig: CavageSignature, method: str, has_body: bool) -> None:
    covered = set(sig.headers)
    if "date" not in covered and "(created)" not in covered:
        raise SignatureError("Mastodon requires the Date header or (created) pseudo-header to be signed")
    if "(request-target)" not in covered and "digest" not in covered:
        raise SignatureError("Mastodon requires the Digest header or (request-target) pseudo-header to be signed")
    if method.upper() == "GET" and "host" not in covered:
        raise SignatureError("Mastodon requires the Host header to be signed when doing a GET request")
    if (method.upper() == "POST" or has_body) and "digest" not in covered:
        raise SignatureError("Mastodon requires the Digest header to be signed when doing a POST request")
    if sig.algorithm != "hs2019" and covered & {"(created)", "(expires)"}:
        raise SignatureError("(created) and (expires) are only allowed with hs2019")


def verify_request(
    *,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    public_key: PublicKey,
    now: datetime,
    signature: CavageSignature | None = None,
) -> CavageSignature:
    """Verify a cavage-signed request as Mastodon does (federation.md §2.2); returns the parsed header.

    `target` is the request path with its query; a signature over the path without the query is also
    accepted (older Mastodon, GoToSocial < 0.14). `headers` may use any case. Raises `SignatureError`
    (or `DigestError`) with the reason.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if signature is None:
        if "signature" not in lowered:
            raise SignatureError("request has no Signature header")
        signature = parse_signature_header(lowered["signature"])
    if signature.algorithm not in ALGORITHMS:
        raise SignatureError(f"unsupported signature algorithm {signature.algorithm!r}")
    _check_coverage(signature, method, body is not None)
    if signature.created is not None and "(created)" in signature.headers:
        created: datetime | None = datetime.fromtimestamp(signature.created, UTC)
    elif "date" in lowered:
        created = parse_http_date(lowered["date"])
    else:
        raise SignatureError("request has neither a Date header nor a created parameter")
    expires = None
    if signature.expires is not None and "(expires)" in signature.headers:
        expires = datetime.fromtimestamp(signature.expires, UTC)
    check_window(created, expires, now)
    if "digest" in signature.headers:
        if "digest" not in lowered:
            raise SignatureError("Digest is signed but missing")
        verify_digest_header(lowered["digest"], body or b"")
    candidates = [target]
    if "?" in target:
        candidates.append(target.split("?", 1)[0])
    for candidate in candidates:
        text = signing_string(signature.headers, method, candidate, lowered, signature.created, signature.expires)
        if _verify_bytes(public_key, signature.algorithm, signature.signature, text.encode("utf-8")):
            return signature
    raise KeyMismatchError("signature does not verify")
