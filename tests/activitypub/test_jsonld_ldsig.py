"""Offline JSON-LD processing over the bundled contexts, and RsaSignature2017 verification."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from activitypub.errors import SignatureError
from activitypub.jsonld import BUNDLED_CONTEXTS, OfflineDocumentLoader, canonicalize, compact, expand
from activitypub.keys import generate_rsa_key, load_private_key, load_public_key
from activitypub.ldsig import ld_signature_creator, sign_ld, verify_ld
from activitypub.vocab import AS_CONTEXT

HERE = Path(__file__).parent
VECTORS = json.loads((HERE / "vectors" / "ldsig.json").read_text())
PRIVATE = load_private_key((HERE / "keys" / "test-key-rsa.pem").read_bytes())
PUBLIC = load_public_key((HERE / "keys" / "test-key-rsa.pub.pem").read_bytes())
assert isinstance(PRIVATE, rsa.RSAPrivateKey)
assert isinstance(PUBLIC, rsa.RSAPublicKey)
RSA_PRIVATE: rsa.RSAPrivateKey = PRIVATE
RSA_PUBLIC: rsa.RSAPublicKey = PUBLIC

MASTODON_NOTE: dict[str, Any] = {
    "@context": [
        AS_CONTEXT,
        "https://w3id.org/security/v1",
        {"toot": "http://joinmastodon.org/ns#", "sensitive": "as:sensitive", "blurhash": "toot:blurhash"},
    ],
    "id": "https://social.example/users/alice/statuses/1",
    "type": "Note",
    "attributedTo": "https://social.example/users/alice",
    "content": "<p>hi</p>",
    "to": ["https://www.w3.org/ns/activitystreams#Public"],
    "sensitive": False,
}


@pytest.mark.parametrize("url", sorted(BUNDLED_CONTEXTS))
def test_loader__serves_every_bundled_context_as_valid_json_ld(url: str) -> None:
    loader = OfflineDocumentLoader()
    remote = loader(url)
    assert remote["documentUrl"] == url
    assert "@context" in remote["document"]
    assert loader.refused == []


def test_loader__bundled_files_are_the_declared_ones() -> None:
    names = {p.name for p in (resources.files("activitypub") / "contexts").iterdir() if p.name.endswith(".json")}
    assert names == set(BUNDLED_CONTEXTS.values())


def test_loader__unknown_context_refused_without_failing_document() -> None:
    loader = OfflineDocumentLoader()
    doc = dict(MASTODON_NOTE, **{"@context": [AS_CONTEXT, "https://unknown.example/ns"]})
    expanded = expand(doc, loader)
    assert loader.refused == ["https://unknown.example/ns"]
    assert expanded[0]["@id"] == MASTODON_NOTE["id"]
    assert expanded[0]["https://www.w3.org/ns/activitystreams#content"][0]["@value"] == "<p>hi</p>"


def test_loader__extra_contexts_and_http_spelling() -> None:
    loader = OfflineDocumentLoader(extra={"https://litepub.example/ctx": {"@context": {"x": "https://x.example#x"}}})
    assert loader.knows("http://www.w3.org/ns/activitystreams")
    assert loader.knows("https://litepub.example/ctx")
    expanded = expand({"@context": "https://litepub.example/ctx", "@id": "https://a.example/", "x": 1}, loader)
    assert expanded[0]["https://x.example#x"][0]["@value"] == 1


def test_compact__reads_toot_terms_through_bundled_namespace() -> None:
    # Inline `toot:` terms (as Mastodon sends them) compact to the bundled namespace's term names.
    loader = OfflineDocumentLoader()
    doc = dict(MASTODON_NOTE, blurhash="UBL_:rOpGG-oBUNG,qRj2so|=eE1")
    compacted = compact(expand(doc, loader), [AS_CONTEXT, "http://joinmastodon.org/ns"], loader)
    assert compacted["blurhash"] == "UBL_:rOpGG-oBUNG,qRj2so|=eE1"
    assert compacted["as:sensitive"] is False
    assert compacted["attributedTo"] == "https://social.example/users/alice"
    assert loader.refused == []


def test_canonicalize__stable_nquads() -> None:
    loader = OfflineDocumentLoader()
    first = canonicalize(MASTODON_NOTE, loader)
    reordered = dict(reversed(list(MASTODON_NOTE.items())))
    assert canonicalize(reordered, loader) == first
    note, content = MASTODON_NOTE["id"], "https://www.w3.org/ns/activitystreams#content"
    assert f'<{note}> <{content}> "<p>hi</p>"' in first


def _create() -> dict[str, Any]:
    return {
        "@context": [AS_CONTEXT, "https://w3id.org/security/v1"],
        "id": "https://social.example/users/alice/statuses/1/activity",
        "type": "Create",
        "actor": "https://social.example/users/alice",
        "object": {k: v for k, v in MASTODON_NOTE.items() if k != "@context"},
    }


def test_sign_ld__deterministic_vector() -> None:
    created = datetime.fromisoformat(VECTORS["created"])
    signed = sign_ld(_create(), RSA_PRIVATE, VECTORS["creator"], created, OfflineDocumentLoader())
    assert signed["signature"] == VECTORS["signature"]


def test_verify_ld__vector_verifies() -> None:
    document = dict(_create(), signature=VECTORS["signature"])
    assert ld_signature_creator(document) == VECTORS["creator"]
    assert verify_ld(document, RSA_PUBLIC, OfflineDocumentLoader()) == VECTORS["creator"]


def _mutations() -> list[tuple[str, Any]]:
    return [
        ("actor", "https://evil.example/users/mallory"),
        ("object.content", "<p>hi!</p>"),
        ("signature.created", "2024-05-01T12:00:01Z"),
        ("signature.creator", "https://social.example/users/alice#other-key"),
    ]


@pytest.mark.parametrize(("path", "value"), _mutations())
def test_verify_ld__twin_with_one_field_changed_fails(path: str, value: Any) -> None:
    document = copy.deepcopy(dict(_create(), signature=VECTORS["signature"]))
    target: dict[str, Any] = document
    *parents, leaf = path.split(".")
    for name in parents:
        target = target[name]
    target[leaf] = value
    with pytest.raises(SignatureError, match="does not verify"):
        verify_ld(document, RSA_PUBLIC, OfflineDocumentLoader())


def test_verify_ld__wrong_key_fails() -> None:
    document = dict(_create(), signature=VECTORS["signature"])
    with pytest.raises(SignatureError, match="does not verify"):
        verify_ld(document, generate_rsa_key().public_key(), OfflineDocumentLoader())


def test_verify_ld__document_without_context_refused() -> None:
    # Without @context the document hash covers nothing, so any content would verify.
    document = {k: v for k, v in _create().items() if k != "@context"}
    signed = sign_ld(
        document, RSA_PRIVATE, VECTORS["creator"], datetime(2024, 1, 1, tzinfo=UTC), OfflineDocumentLoader()
    )
    with pytest.raises(SignatureError, match="lacks the ActivityStreams"):
        verify_ld(signed, RSA_PUBLIC, OfflineDocumentLoader())


def test_verify_ld__unknown_context_refused() -> None:
    document = dict(_create(), **{"@context": [AS_CONTEXT, "https://unknown.example/ns"]})
    signed = sign_ld(
        document, RSA_PRIVATE, VECTORS["creator"], datetime(2024, 1, 1, tzinfo=UTC), OfflineDocumentLoader()
    )
    with pytest.raises(SignatureError, match="unknown contexts"):
        verify_ld(signed, RSA_PUBLIC, OfflineDocumentLoader())


@pytest.mark.parametrize(
    "signature",
    [
        None,
        {"type": "RsaSignature2018"},
        {"type": "RsaSignature2017"},
        {"type": "RsaSignature2017", "creator": "k"},
    ],
)
def test_verify_ld__malformed_signature_block(signature: Any) -> None:
    document = dict(_create(), signature=signature)
    with pytest.raises(SignatureError):
        verify_ld(document, RSA_PUBLIC, OfflineDocumentLoader())
