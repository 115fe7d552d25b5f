"""RsaSignature2017 Linked Data Signatures on relayed activities (Mastodon `linked_data_signature.rb`).

hash(x) = hex SHA-256 of the URDNA2015 N-Quads of x; the signed bytes are
hash(signature options without type/id/signatureValue, with `@context: identity/v1`) + hash(document
without `signature`), signed with RSASSA-PKCS1-v1_5/SHA-256. Mastodon advises against relying on these
(outdated, spoofing CVEs, federation.md §5); use them only to accept an activity relayed by someone
other than its actor, and only after resolving `creator` to that actor's key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import KeyMismatchError, SignatureError
from .jsonld import OfflineDocumentLoader, canonicalize
from .objects import iso8601
from .vocab import IDENTITY_V1_CONTEXT, has_as_context

SIGNATURE_TYPE = "RsaSignature2017"


def _hash(document: Mapping[str, Any], loader: OfflineDocumentLoader) -> str:
    return hashlib.sha256(canonicalize(document, loader).encode("utf-8")).hexdigest()


def _to_be_signed(document: Mapping[str, Any], options: Mapping[str, Any], loader: OfflineDocumentLoader) -> bytes:
    stripped_options = {k: v for k, v in options.items() if k not in ("type", "id", "signatureValue")}
    stripped_options["@context"] = IDENTITY_V1_CONTEXT
    body = {k: v for k, v in document.items() if k != "signature"}
    return (_hash(stripped_options, loader) + _hash(body, loader)).encode("ascii")


def ld_signature_creator(document: Mapping[str, Any]) -> str:
    """The `signature.creator` key id of an RsaSignature2017-signed document; raises `SignatureError`."""
    signature = document.get("signature")
    if not isinstance(signature, Mapping) or signature.get("type") != SIGNATURE_TYPE:
        raise SignatureError("document has no RsaSignature2017 signature")
    creator = signature.get("creator")
    if not isinstance(creator, str):
        raise SignatureError("LD signature has no creator")
    return creator


def sign_ld(
    document: Mapping[str, Any],
    private_key: rsa.RSAPrivateKey,
    creator: str,
    created: datetime,
    loader: OfflineDocumentLoader,
) -> dict[str, Any]:
    """Return `document` with an RsaSignature2017 `signature` (Mastodon `LinkedDataSignature#sign!`)."""
    options = {"type": SIGNATURE_TYPE, "creator": creator, "created": iso8601(created)}
    data = _to_be_signed(document, options, loader)
    value = base64.b64encode(private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")
    return {**document, "signature": {**options, "signatureValue": value}}


def verify_ld(document: Mapping[str, Any], public_key: rsa.RSAPublicKey, loader: OfflineDocumentLoader) -> str:
    """Verify an RsaSignature2017 signature with the creator's key; returns the creator key id.

    The caller must have resolved `ld_signature_creator(document)` to `public_key` and checked that
    its owner is the activity's `actor`. Documents without the AS2 context, or whose contexts the
    loader refused, are rejected because part of them would be unsigned. Raises `SignatureError`.
    """
    creator = ld_signature_creator(document)
    if not has_as_context(document):
        # Without a context every property expands to nothing, so the document hash covers no data
        # and any content would "verify" (takahe's context-less test vector shows it).
        raise SignatureError("LD-signed document lacks the ActivityStreams @context")
    signature = document["signature"]
    value = signature.get("signatureValue")
    if not isinstance(value, str):
        raise SignatureError("LD signature has no signatureValue")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise SignatureError("LD signatureValue is not base64") from exc
    refused_before = len(loader.refused)
    data = _to_be_signed(document, signature, loader)
    if len(loader.refused) > refused_before:
        # Terms from a context we cannot load drop out of the canonical form, so they would be unsigned.
        raise SignatureError(f"LD signature covers unknown contexts {loader.refused[refused_before:]}")
    try:
        public_key.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise KeyMismatchError("LD signature does not verify") from exc
    return creator
