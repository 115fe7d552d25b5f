"""draft-cavage-12: the Mastodon-profile vector, its failing twins, coverage rules and the time window."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from activitypub.errors import DigestError, SignatureError
from activitypub.httpsig import (
    CavageSignature,
    format_signature_header,
    parse_signature_header,
    sign_request,
    signing_string,
    verify_request,
)
from activitypub.keys import load_private_key, load_public_key

HERE = Path(__file__).parent
CASES: list[dict[str, Any]] = json.loads((HERE / "vectors" / "cavage.json").read_text())["cases"]
RSA_PRIVATE = load_private_key((HERE / "keys" / "test-key-rsa.pem").read_bytes())
RSA_PUBLIC = load_public_key((HERE / "keys" / "test-key-rsa.pub.pem").read_bytes())
TWINS = [(case, twin) for case in CASES for twin in case["twins"]]


def _signed(case: dict[str, Any]) -> dict[str, str]:
    return sign_request(
        method=case["method"],
        url=case["url"],
        headers=case["headers"],
        body=case["body"].encode(),
        key_id=case["key_id"],
        private_key=RSA_PRIVATE,
        now=datetime.fromisoformat(case["now"]),
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_sign__reproduces_vector_byte_for_byte(case: dict[str, Any]) -> None:
    headers = _signed(case)
    parsed = parse_signature_header(headers["signature"])
    text = signing_string(parsed.headers, case["method"], "/users/alice/inbox", headers)
    assert text == case["signing_string"]
    assert headers["signature"] == case["signature"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_verify__accepts_vector(case: dict[str, Any]) -> None:
    headers = _signed(case)
    assert headers["signature"] == case["signature"]
    result = verify_request(
        method=case["method"],
        target="/users/alice/inbox",
        headers=headers,
        body=case["body"].encode(),
        public_key=RSA_PUBLIC,
        now=datetime.fromisoformat(case["now"]) + timedelta(seconds=30),
    )
    assert result.key_id == case["key_id"]


@pytest.mark.parametrize(("case", "twin"), TWINS, ids=lambda v: v.get("kind", v.get("id", "")))
def test_verify__twin_with_one_change_fails(case: dict[str, Any], twin: dict[str, Any]) -> None:
    headers = {k.title(): v for k, v in _signed(case).items()}
    body = case["body"].encode()
    target = "/users/alice/inbox"
    if twin["kind"] == "header":
        headers[twin["name"]] = twin["value"]
    elif twin["kind"] == "body":
        body = twin["value"].encode()
    elif twin["kind"] == "target":
        target = twin["value"]
    else:
        sig = parse_signature_header(headers["Signature"])
        raw = bytearray(sig.signature)
        raw[twin["index"]] ^= 0x01
        headers["Signature"] = format_signature_header(
            CavageSignature(sig.key_id, sig.algorithm, sig.headers, bytes(raw))
        )
    with pytest.raises(SignatureError, match=twin["error"]):
        verify_request(
            method=case["method"],
            target=target,
            headers=headers,
            body=body,
            public_key=RSA_PUBLIC,
            now=datetime.fromisoformat(case["now"]),
        )


NOW = datetime(2021, 4, 20, 2, 7, 55, tzinfo=UTC)


def _post(now: datetime = NOW, **overrides: Any) -> dict[str, str]:
    args: dict[str, Any] = {
        "method": "POST",
        "url": "https://remote.example/inbox",
        "headers": {"Content-Type": "application/activity+json"},
        "body": b'{"type": "Follow"}',
        "key_id": "https://local.example/actor#main-key",
        "private_key": RSA_PRIVATE,
        "now": now,
    }
    args.update(overrides)
    return sign_request(**args)


def _verify(headers: dict[str, str], now: datetime = NOW, **overrides: Any) -> CavageSignature:
    args: dict[str, Any] = {
        "method": "POST",
        "target": "/inbox",
        "headers": headers,
        "body": b'{"type": "Follow"}',
        "public_key": RSA_PUBLIC,
        "now": now,
    }
    args.update(overrides)
    return verify_request(**args)


def test_sign__post_covers_mastodon_headers() -> None:
    headers = _post()
    parsed = parse_signature_header(headers["signature"])
    assert parsed.headers == ("(request-target)", "host", "date", "digest", "content-type")
    assert parsed.algorithm == "rsa-sha256"
    assert headers["date"] == "Tue, 20 Apr 2021 02:07:55 GMT"


def test_sign__get_covers_target_with_query() -> None:
    headers = sign_request(
        method="GET",
        url="https://remote.example/users/bob/outbox?page=2",
        headers={},
        body=None,
        key_id="k",
        private_key=RSA_PRIVATE,
        now=NOW,
    )
    parsed = parse_signature_header(headers["signature"])
    assert parsed.headers == ("(request-target)", "host", "date")
    assert "digest" not in headers
    _verify(headers, method="GET", target="/users/bob/outbox?page=2", body=None)
    with pytest.raises(SignatureError):
        _verify(headers, method="GET", target="/users/bob/outbox?page=3", body=None)


def test_verify__falls_back_to_target_without_query() -> None:
    # Signed over the bare path, as Mastodon < 4.3 and GoToSocial < 0.14 do (mastodon#31994).
    headers = sign_request(
        method="GET",
        url="https://r.example/c",
        headers={},
        body=None,
        key_id="k",
        private_key=RSA_PRIVATE,
        now=NOW,
    )
    assert _verify(headers, method="GET", target="/c?page=1", body=None).key_id == "k"
    with pytest.raises(SignatureError, match="does not verify"):
        _verify(headers, method="GET", target="/d?page=1", body=None)


def test_verify__hs2019_and_missing_algorithm_accepted() -> None:
    headers = _post(algorithm="hs2019")
    assert 'algorithm="hs2019"' in headers["signature"]
    _verify(headers)
    without = dict(headers, signature=headers["signature"].replace('algorithm="hs2019",', ""))
    assert parse_signature_header(without["signature"]).algorithm == "hs2019"
    _verify(without)
    unknown = dict(headers, signature=headers["signature"].replace("hs2019", "rsa-sha512"))
    with pytest.raises(SignatureError, match="unsupported signature algorithm"):
        _verify(unknown)


def test_verify__ed25519_with_hs2019() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    headers = _post(private_key=key, algorithm="hs2019")
    _verify(headers, public_key=key.public_key())
    with pytest.raises(SignatureError):
        _verify(headers, public_key=ed25519.Ed25519PrivateKey.generate().public_key())


def _resign(headers: dict[str, str], covered: tuple[str, ...], method: str = "POST") -> dict[str, str]:
    text = signing_string(covered, method, "/inbox", headers)
    raw = RSA_PRIVATE.sign(text.encode(), *_pkcs1()) if isinstance(RSA_PRIVATE, rsa.RSAPrivateKey) else b""
    sig = CavageSignature("k", "rsa-sha256", covered, raw)
    return dict(headers, signature=format_signature_header(sig))


def _pkcs1() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PKCS1v15(), hashes.SHA256()


@pytest.mark.parametrize(
    ("covered", "method", "reason"),
    [
        (("(request-target)", "host", "date"), "POST", "Digest header to be signed"),
        (("(request-target)", "host", "digest"), "POST", "Date header or"),
        (("host", "date"), "GET", "Digest header or"),
        (("(request-target)", "date"), "GET", "Host header"),
    ],
)
def test_verify__requires_mastodon_coverage(covered: tuple[str, ...], method: str, reason: str) -> None:
    headers = _resign(_post(), covered, method)
    body = b'{"type": "Follow"}' if method == "POST" else None
    with pytest.raises(SignatureError, match=reason):
        _verify(headers, method=method, body=body)


def test_verify__digest_mismatch_names_computed_and_given() -> None:
    headers = _post()
    with pytest.raises(DigestError, match=r"Computed SHA-256 digest: \S+; given: \S+"):
        _verify(headers, body=b'{"type": "Follow"} ')


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(0), True),
        (timedelta(hours=1, minutes=5), True),
        (timedelta(hours=1, minutes=5, seconds=1), False),
        (-timedelta(hours=1), True),
        (-timedelta(hours=1, seconds=1), False),
    ],
)
def test_verify__mastodon_time_window(offset: timedelta, ok: bool) -> None:
    headers = _post()
    if ok:
        _verify(headers, now=NOW + offset)
    else:
        with pytest.raises(SignatureError, match="time window"):
            _verify(headers, now=NOW + offset)


def test_verify__non_imf_date_rejected() -> None:
    headers = _post()
    headers["date"] = "20 Apr 2021 02:07:55 UTC"
    with pytest.raises(SignatureError, match="IMF-fixdate"):
        _verify(headers)


def test_verify__created_and_expires_params_with_hs2019() -> None:
    created = int(NOW.timestamp())
    covered = ("(request-target)", "host", "(created)", "(expires)", "digest")
    headers = _post()
    text = signing_string(covered, "POST", "/inbox", headers, created, created + 3600)
    raw = RSA_PRIVATE.sign(text.encode(), *_pkcs1()) if isinstance(RSA_PRIVATE, rsa.RSAPrivateKey) else b""
    sig = CavageSignature("k", "hs2019", covered, raw, created, created + 3600)
    headers["signature"] = format_signature_header(sig)
    _verify(headers, now=NOW + timedelta(hours=2))
    with pytest.raises(SignatureError, match="time window"):
        _verify(headers, now=NOW + timedelta(hours=2, seconds=1))
    rsa_only = dict(headers, signature=headers["signature"].replace("hs2019", "rsa-sha256"))
    with pytest.raises(SignatureError, match="only allowed with hs2019"):
        _verify(rsa_only)


@pytest.mark.parametrize(
    "header",
    [
        'keyId="k",headers="date"',
        'signature="AAAA"',
        'keyId="k",signature="not base64!"',
        'keyId="k" signature="AAAA"',
    ],
)
def test_parse__malformed_header_rejected(header: str) -> None:
    with pytest.raises(SignatureError):
        parse_signature_header(header)


def test_parse__missing_headers_defaults_to_created() -> None:
    parsed = parse_signature_header('keyId="k",signature="' + base64.b64encode(b"x").decode() + '"')
    assert parsed.headers == ("(created)",)


def test_verify__gotosocial_post_without_content_type() -> None:
    # GoToSocial signs POST as `(request-target) host date digest` with algorithm hs2019.
    headers = _post(headers={}, algorithm="hs2019")
    assert parse_signature_header(headers["signature"]).headers == (
        "(request-target)",
        "host",
        "date",
        "digest",
    )
    _verify(headers)
    with pytest.raises(SignatureError):
        _verify(dict(headers, host="other.example"))


def test_check_window__expires_capped_at_created_plus_12h() -> None:
    from activitypub.window import check_window

    check_window(NOW, NOW + timedelta(days=2), NOW + timedelta(hours=13))
    with pytest.raises(SignatureError, match="expired"):
        check_window(NOW, NOW + timedelta(days=2), NOW + timedelta(hours=13, seconds=1))
