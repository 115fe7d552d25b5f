"""RFC 9421 HTTP Message Signatures: signature base, `Signature-Input`/`Signature`, sign and verify.

Algorithms (RFC 9421 §3.3): rsa-v1_5-sha256 (Mastodon's), rsa-pss-sha512, ecdsa-p256-sha256, ed25519,
hmac-sha256. `verify_request_rfc9421` adds Mastodon's profile (federation.md §2.3) on top of
`verify_message`: one signature, `created`, `@method` and `@target-uri` covered, and a covered
`Content-Digest` with `sha-256` on POST.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .digest import content_digest_header, verify_content_digest
from .errors import KeyMismatchError, SignatureError, StructuredFieldError
from .keys import PrivateKey, PublicKey
from .sfv import InnerList, Item, Member, Params, parse_dictionary, serialize_dictionary
from .sigbase import HttpMessage, signature_base
from .window import check_window

ALGORITHMS = ("rsa-v1_5-sha256", "rsa-pss-sha512", "ecdsa-p256-sha256", "ed25519", "hmac-sha256")
SigningKey = PrivateKey | bytes
VerifyingKey = PublicKey | bytes


@dataclass(frozen=True, slots=True)
class SignatureInput:
    """One parsed signature: its label, covered components, parameters and value."""

    label: str
    components: InnerList
    signature: bytes

    @property
    def params(self) -> Params:
        """The signature parameters (`created`, `keyid`, `alg`, …; RFC 9421 §2.3)."""
        return self.components.params

    @property
    def key_id(self) -> str | None:
        """The `keyid` parameter, if it is a string."""
        value = self.params.get("keyid")
        return value if isinstance(value, str) else None

    @property
    def names(self) -> tuple[str, ...]:
        """The covered component names, without their parameters."""
        return tuple(str(item.value) for item in self.components.items)


def _infer_algorithm(key: SigningKey | VerifyingKey) -> str:
    # RSA public keys first: they are what Mastodon verification sees, and ABC checks are not free.
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "rsa-v1_5-sha256"
    if isinstance(key, bytes):
        return "hmac-sha256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ecdsa-p256-sha256"
    return "ed25519"


def _sign_bytes(key: SigningKey, algorithm: str, data: bytes) -> bytes:
    if algorithm == "hmac-sha256" and isinstance(key, bytes):
        return hmac.new(key, data, hashlib.sha256).digest()
    if algorithm == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if algorithm == "rsa-pss-sha512" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512())
    if algorithm == "ecdsa-p256-sha256" and isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise SignatureError(f"cannot sign {algorithm} with {type(key).__name__}")


def _verify_bytes(key: VerifyingKey, algorithm: str, signature: bytes, data: bytes) -> bool:
    try:
        if algorithm == "hmac-sha256" and isinstance(key, bytes):
            return hmac.compare_digest(hmac.new(key, data, hashlib.sha256).digest(), signature)
        if algorithm == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "rsa-pss-sha512" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512())
        elif algorithm == "ecdsa-p256-sha256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64 or not isinstance(key.curve, ec.SECP256R1):
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            raise KeyMismatchError(f"cannot verify {algorithm} with {type(key).__name__}")
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    """The result of signing: the two header values to add and the base that was signed."""

    signature_input: str
    signature: str
    base: str


def sign_message(
    message: HttpMessage,
    components: Sequence[str | Item],
    params: Params,
    key: SigningKey,
    *,
    label: str = "sig1",
    algorithm: str | None = None,
) -> SignedHeaders:
    """Sign `message` (RFC 9421 §3.1); `params` (created, keyid, alg, …) keep the given order."""
    alg_param = params.get("alg")
    if algorithm is None and isinstance(alg_param, str):
        algorithm = alg_param
    algorithm = algorithm or _infer_algorithm(key)
    if algorithm not in ALGORITHMS:
        raise SignatureError(f"unsupported RFC 9421 algorithm {algorithm!r}")
    items = [c if isinstance(c, Item) else Item(c) for c in components]
    inner = InnerList(items, dict(params))
    base = signature_base(message, inner)
    raw = _sign_bytes(key, algorithm, base.encode("utf-8"))
    return SignedHeaders(
        signature_input=serialize_dictionary({label: inner}),
        signature=serialize_dictionary({label: Item(raw)}),
        base=base,
    )


def parse_signatures(signature_input: str, signature: str) -> list[SignatureInput]:
    """Pair the members of `Signature-Input` and `Signature` by label (RFC 9421 §4.1, §4.2)."""
    try:
        inputs = parse_dictionary(signature_input)
        values = parse_dictionary(signature)
    except StructuredFieldError as exc:
        raise SignatureError(f"malformed signature fields: {exc}") from exc
    result = []
    for label, member in inputs.items():
        if not isinstance(member, InnerList):
            raise SignatureError(f"Signature-Input member {label!r} is not an inner list")
        value: Member | None = values.get(label)
        if not isinstance(value, Item) or not isinstance(value.value, bytes):
            raise SignatureError(f"Signature has no byte-sequence member {label!r}")
        # The canonical fast path only ever yields string identifiers.
        if member.canonical is None and not all(isinstance(c.value, str) for c in member.items):
            raise SignatureError(f"component identifiers of {label!r} must be strings")
        result.append(SignatureInput(label, member, value.value))
    return result


def verify_message(
    message: HttpMessage,
    signature: SignatureInput,
    key: VerifyingKey,
    *,
    algorithm: str | None = None,
) -> str:
    """Verify one signature over `message` (RFC 9421 §3.2); returns the signature base.

    The algorithm is the `alg` parameter, else `algorithm`, else inferred from the key type; an `alg`
    parameter that contradicts `algorithm` is an error. Raises `SignatureError`.
    """
    alg_param = signature.params.get("alg")
    if alg_param is not None:
        if not isinstance(alg_param, str) or (algorithm is not None and alg_param != algorithm):
            raise SignatureError(f"alg parameter {alg_param!r} does not match the key's algorithm")
        algorithm = alg_param
    algorithm = algorithm or _infer_algorithm(key)
    if algorithm not in ALGORITHMS:
        raise SignatureError(f"unsupported RFC 9421 algorithm {algorithm!r}")
    base = signature_base(message, signature.components)
    if not _verify_bytes(key, algorithm, signature.signature, base.encode("utf-8")):
        raise KeyMismatchError(f"signature {signature.label!r} does not verify")
    return base


def _timestamp(params: Params, name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise SignatureError(f"{name} must be an integer")
    return datetime.fromtimestamp(value, UTC)


def request_signature(headers: Mapping[str, str] | HttpMessage) -> SignatureInput:
    """The single signature of a request, as Mastodon requires (federation.md §2.3)."""
    message = headers if isinstance(headers, HttpMessage) else HttpMessage(headers)
    signature_input, signature = message.header("signature-input"), message.header("signature")
    if signature_input is None or signature is None:
        raise SignatureError("request has no Signature-Input/Signature fields")
    signatures = parse_signatures(signature_input, signature)
    if len(signatures) != 1:
        raise SignatureError(f"expected exactly one signature, found {len(signatures)}")
    return signatures[0]


def verify_request_rfc9421(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    public_key: VerifyingKey,
    now: datetime,
    signature: SignatureInput | None = None,
) -> SignatureInput:
    """Verify an RFC 9421 request with Mastodon's requirements (federation.md §2.3).

    One signature; `created` present; `@method` and `@target-uri` covered; on POST a covered
    `Content-Digest` with a matching `sha-256`; Mastodon's time window (`window.check_window`).
    """
    message = HttpMessage(headers, method=method, url=url)
    signature = signature or request_signature(message)
    created = _timestamp(signature.params, "created")
    if created is None:
        raise SignatureError("signature has no created parameter")
    names = set(signature.names)
    if not {"@method", "@target-uri"} <= names:
        raise SignatureError("signature must cover @method and @target-uri")
    check_window(created, _timestamp(signature.params, "expires"), now)
    if method.upper() == "POST" or body:
        if "content-digest" not in names:
            raise SignatureError("signature must cover content-digest on POST")
        digest = message.header("content-digest")
        if digest is None:
            raise SignatureError("Content-Digest is covered but missing")
        verify_content_digest(digest, body or b"", required="sha-256")
    verify_message(message, signature, public_key)
    return signature


def sign_request_rfc9421(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key: SigningKey,
    now: datetime,
    label: str = "sig1",
) -> dict[str, str]:
    """Sign a request the way Mastodon verifies it; returns the headers to send.

    Covers `@method @target-uri` plus `content-digest` when there is a body (`Content-Digest: sha-256`).
    """
    out = {k.lower(): v for k, v in headers.items()}
    components = ["@method", "@target-uri"]
    if body is not None:
        out["content-digest"] = content_digest_header(body)
        components.append("content-digest")
    params: Params = {"created": int(now.timestamp()), "keyid": key_id}
    signed = sign_message(HttpMessage(out, method=method, url=url), components, params, private_key, label=label)
    out["signature-input"] = signed.signature_input
    out["signature"] = signed.signature
    return out
