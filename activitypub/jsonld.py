"""JSON-LD processing with pyld over bundled contexts, never the network.

The context files under `contexts/` are the exact texts shipped by Fedify's `@fedify/vocab-runtime`
2.3.6 (MIT). `OfflineDocumentLoader` serves them; any other URL is refused by substituting an empty
context, so one unknown extension context does not fail the whole document (takahe `core/ld.py`
does the same), and the refusal is recorded in `refused`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from .errors import InvalidObject

BUNDLED_CONTEXTS = {
    "https://www.w3.org/ns/activitystreams": "activitystreams.json",
    "https://w3id.org/security/v1": "security-v1.json",
    "https://w3id.org/identity/v1": "identity-v1.json",
    "https://w3id.org/security/data-integrity/v1": "security-data-integrity-v1.json",
    "https://w3id.org/security/data-integrity/v2": "security-data-integrity-v2.json",
    "https://w3id.org/security/multikey/v1": "security-multikey-v1.json",
    "https://www.w3.org/ns/did/v1": "did-v1.json",
    "http://joinmastodon.org/ns": "joinmastodon.json",
    "https://gotosocial.org/ns": "gotosocial.json",
}


def _normalise(url: str) -> str:
    # Servers write the AS2 context as `…/activitystreams#`, `…/activitystreams.jsonld` or over http.
    url = url.rstrip("#/")
    url = url.removesuffix(".jsonld")
    if url.startswith("http://") and url != "http://joinmastodon.org/ns":
        url = "https://" + url[len("http://") :]
    return url


class OfflineDocumentLoader:
    """A pyld document loader over the bundled contexts (and `extra` ones) that never fetches.

    The files are read when the loader is built, not at import time. Unknown URLs resolve to an
    empty context and are appended to `refused`.
    """

    def __init__(self, extra: Mapping[str, Any] | None = None) -> None:
        package = resources.files("activitypub") / "contexts"
        self._documents: dict[str, Any] = {
            url: json.loads((package / name).read_text("utf-8")) for url, name in BUNDLED_CONTEXTS.items()
        }
        for url, document in (extra or {}).items():
            self._documents[_normalise(url)] = document
        self.refused: list[str] = []

    def __call__(self, url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        document = self._documents.get(_normalise(url))
        if document is None:
            self.refused.append(url)
            document = {"@context": {}}
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": document,
        }

    def knows(self, url: str) -> bool:
        """True when `url` is served from the bundle (or `extra`)."""
        return _normalise(url) in self._documents


# pyld reports most bad input as JsonLdError, but a malformed IRI in `@context` ("", "\u0000", a garbage
# string) as a bare ValueError, and wrong types in a context as TypeError, KeyError (`{"@vocab": null}`),
# IndexError or AttributeError (pyld 2.0.4; found by tests/activitypub/test_jsonld_fuzz.py).
_PYLD_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def _options(loader: OfflineDocumentLoader, **more: Any) -> dict[str, Any]:
    return {"documentLoader": loader, **more}


def expand(document: Mapping[str, Any], loader: OfflineDocumentLoader) -> list[dict[str, Any]]:
    """JSON-LD 1.1 expansion; raises `InvalidObject` if pyld rejects the document."""
    from pyld import jsonld

    try:
        result: list[dict[str, Any]] = jsonld.expand(dict(document), _options(loader))
    except (jsonld.JsonLdError, *_PYLD_ERRORS) as exc:
        raise InvalidObject(f"JSON-LD expansion failed: {exc}") from exc
    return result


def compact(document: Any, context: Any, loader: OfflineDocumentLoader) -> dict[str, Any]:
    """JSON-LD 1.1 compaction of a document (or an expanded list) against `context`.

    Raises `InvalidObject` on failure.
    """
    from pyld import jsonld

    try:
        result: dict[str, Any] = jsonld.compact(document, context, _options(loader))
    except (jsonld.JsonLdError, *_PYLD_ERRORS) as exc:
        raise InvalidObject(f"JSON-LD compaction failed: {exc}") from exc
    return result


def canonicalize(document: Mapping[str, Any], loader: OfflineDocumentLoader) -> str:
    """URDNA2015 canonical N-Quads, the input of RsaSignature2017 (Mastodon `LinkedDataSignature#hash`)."""
    from pyld import jsonld

    try:
        result: str = jsonld.normalize(
            dict(document), _options(loader, algorithm="URDNA2015", format="application/n-quads")
        )
    except (jsonld.JsonLdError, *_PYLD_ERRORS) as exc:
        raise InvalidObject(f"JSON-LD canonicalization failed: {exc}") from exc
    return result
