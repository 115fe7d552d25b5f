"""The public surface of `activitypub` is pinned, and importing it pulls in no application code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import activitypub

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "ACTIVITY_JSON", "ACTOR_TYPES", "APPLICATION_ACTOR_REL", "AS2_ACCEPT", "AS_CONTEXT", "Acct",
    "ActivityPubClient", "ActivityPubError", "BUNDLED_CONTEXTS", "CavageSignature", "Clock",
    "DEFAULT_TIMEOUT", "DigestError", "FetchError", "Guard", "HttpMessage", "InvalidObject", "JRD_JSON",
    "KeyLoadError", "KeyMismatchError", "LD_JSON_AS2", "MAX_BODY_BYTES", "MAX_REDIRECTS",
    "OfflineDocumentLoader", "OutboundGuard", "PUBLIC", "PinnedBackend", "PinnedTransport", "PrivateKey", "PublicKey",
    "RefetchLimiter",
    "RemoteStatusError", "SECURITY_V1_CONTEXT", "Scheme", "SignatureError", "SignatureInput",
    "SignedHeaders", "Signer", "StructuredFieldError", "UnsafeURLError", "WebFingerError",
    "WebFingerResult", "accept", "actor", "announce", "as_list", "build_jrd", "canonicalize",
    "check_activity_origins", "check_key_ownership", "check_signer", "check_window", "compact",
    "component_value", "content_digest_header", "create", "delete", "digest_header",
    "embedded_needs_refetch", "expand", "follow", "format_acct", "generate_ed25519_key",
    "generate_rsa_key", "get_id", "get_ids", "get_types", "has_as_context", "has_type", "http_date",
    "is_as2_content_type", "is_public", "is_public_address", "iso8601", "key_owner_guess",
    "ld_signature_creator", "like", "load_private_key", "load_public_key", "lookup",
    "nodeinfo_content_type", "nodeinfo_document", "note", "origin", "parse_acct", "parse_http_date",
    "parse_signature_header", "parse_signatures", "private_key_pem", "public_key_block",
    "public_key_pem", "read_capped", "reject", "request_signature", "require_id", "same_origin",
    "self_link", "sign_ld", "sign_message", "sign_request", "sign_request_rfc9421", "signature_base",
    "signing_string", "system_clock", "system_resolver", "tombstone", "undo", "update",
    "verify_content_digest", "verify_digest_header", "verify_ld", "verify_message", "verify_request",
    "verify_request_rfc9421", "verify_with_refetch", "vetted_addresses", "well_known_nodeinfo",
    "MAX_URL_LENGTH", "Envelope", "EnvelopeLimits", "JsonLimits", "MalformedDocument", "check_url",
    "loads_bounded", "parse_activity",
}  # fmt: skip


def test_all__is_pinned() -> None:
    assert set(activitypub.__all__) == EXPECTED
    assert len(activitypub.__all__) == len(EXPECTED)


def test_all__names_exist() -> None:
    missing = [name for name in activitypub.__all__ if not hasattr(activitypub, name)]
    assert missing == []


def test_import__loads_no_application_or_framework_module() -> None:
    # A fresh interpreter: this test process has already imported whatever other tests needed.
    code = (
        "import sys, activitypub\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'fediserver', 'generation', 'starlette', 'sqlalchemy', 'pyld'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_import__source_never_names_forbidden_packages() -> None:
    forbidden = ("fediserver", "generation", "starlette", "sqlalchemy")
    for path in (ROOT / "activitypub").glob("*.py"):
        for line in path.read_text("utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert not any(name in stripped.split()[1] for name in forbidden), (path.name, stripped)
