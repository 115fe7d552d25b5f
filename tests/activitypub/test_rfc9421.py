"""RFC 9421: Appendix B.2.1–B.2.6, the §4.3 proxy signature and the Mastodon-profile vector, with twins."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from activitypub.errors import DigestError, SignatureError
from activitypub.keys import PrivateKey, PublicKey, load_private_key, load_public_key
from activitypub.rfc9421 import (
    SignatureInput,
    parse_signatures,
    sign_message,
    sign_request_rfc9421,
    verify_message,
    verify_request_rfc9421,
)
from activitypub.sfv import serialize_dictionary
from activitypub.sigbase import HttpMessage, signature_base

HERE = Path(__file__).parent
CASES: list[dict[str, Any]] = json.loads((HERE / "vectors" / "rfc9421.json").read_text())["cases"]
TWINS = [(case, twin) for case in CASES for twin in case["twins"]]


def _private(name: str) -> PrivateKey | bytes:
    if name == "test-shared-secret":
        return base64.b64decode((HERE / "keys" / "test-shared-secret.b64").read_text())
    return load_private_key((HERE / "keys" / f"{name}.pem").read_bytes())


def _public(name: str) -> PublicKey | bytes:
    if name == "test-shared-secret":
        return base64.b64decode((HERE / "keys" / "test-shared-secret.b64").read_text())
    return load_public_key((HERE / "keys" / f"{name}.pub.pem").read_bytes())


def _message(spec: dict[str, Any]) -> HttpMessage:
    return HttpMessage(spec["headers"], method=spec.get("method"), url=spec.get("url"), status=spec.get("status"))


def _signature(case: dict[str, Any]) -> SignatureInput:
    (parsed,) = parse_signatures(case["signature_input"], case["signature"])
    return parsed


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_signature_base__matches_vector(case: dict[str, Any]) -> None:
    parsed = _signature(case)
    assert signature_base(_message(case["message"]), parsed.components) == case["base"]
    assert serialize_dictionary({parsed.label: parsed.components}) == case["signature_input"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_verify__vector_verifies(case: dict[str, Any]) -> None:
    base = verify_message(
        _message(case["message"]), _signature(case), _public(case["key"]), algorithm=case["algorithm"]
    )
    assert base == case["base"]


@pytest.mark.parametrize("case", [c for c in CASES if c["deterministic"]], ids=lambda c: c["id"])
def test_sign__deterministic_vector_regenerates(case: dict[str, Any]) -> None:
    parsed = _signature(case)
    signed = sign_message(
        _message(case["message"]),
        parsed.components.items,
        parsed.params,
        _private(case["key"]),
        label=parsed.label,
        algorithm=case["algorithm"],
    )
    assert signed.base == case["base"]
    assert signed.signature_input == case["signature_input"]
    assert signed.signature == case["signature"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_sign__round_trip_with_vector_key(case: dict[str, Any]) -> None:
    parsed = _signature(case)
    message = _message(case["message"])
    signed = sign_message(
        message, parsed.components.items, parsed.params, _private(case["key"]), algorithm=case["algorithm"]
    )
    (mine,) = parse_signatures(signed.signature_input, signed.signature)
    verify_message(message, mine, _public(case["key"]), algorithm=case["algorithm"])


def _mutate(case: dict[str, Any], twin: dict[str, Any]) -> tuple[HttpMessage, SignatureInput, bytes]:
    spec = json.loads(json.dumps(case["message"]))
    signature_input, signature = case["signature_input"], case["signature"]
    body = spec.get("body", "").encode()
    kind = twin["kind"]
    if kind == "header":
        spec["headers"][twin["name"]] = twin["value"]
    elif kind in ("url", "method", "status"):
        spec[kind] = twin["value"]
    elif kind == "body":
        body = twin["value"].encode()
    elif kind == "signature-input":
        signature_input = twin["value"]
    else:
        (parsed,) = parse_signatures(signature_input, signature)
        raw = bytearray(parsed.signature)
        raw[twin["index"]] ^= 0x01
        signature = f"{parsed.label}=:{base64.b64encode(bytes(raw)).decode()}:"
    (parsed,) = parse_signatures(signature_input, signature)
    return _message(spec), parsed, body


@pytest.mark.parametrize(("case", "twin"), TWINS, ids=lambda v: v.get("kind", v.get("id", "")))
def test_verify__twin_with_one_change_fails(case: dict[str, Any], twin: dict[str, Any]) -> None:
    message, parsed, body = _mutate(case, twin)
    if case.get("mastodon_profile"):
        with pytest.raises(SignatureError):
            verify_request_rfc9421(
                method=message.method or "",
                url=message.url or "",
                headers=message.headers,
                body=body,
                public_key=_public(case["key"]),
                now=datetime.fromtimestamp(case["now"], UTC),
                signature=parsed,
            )
    else:
        with pytest.raises(SignatureError, match="does not verify"):
            verify_message(message, parsed, _public(case["key"]), algorithm=case["algorithm"])


MASTODON = next(c for c in CASES if c["id"] == "mastodon-profile")
MASTODON_NOW = datetime.fromtimestamp(MASTODON["now"], UTC)


def _mastodon_headers() -> dict[str, str]:
    return dict(
        MASTODON["message"]["headers"],
        **{"Signature-Input": MASTODON["signature_input"]},
        Signature=MASTODON["signature"],
    )


def _verify_mastodon(headers: dict[str, str], now: datetime = MASTODON_NOW, body: bytes | None = None) -> None:
    verify_request_rfc9421(
        method="POST",
        url=MASTODON["message"]["url"],
        headers=headers,
        body=MASTODON["message"]["body"].encode() if body is None else body,
        public_key=_public("test-key-rsa"),
        now=now,
    )


def test_mastodon_profile__verifies_from_headers() -> None:
    _verify_mastodon(_mastodon_headers())


def test_mastodon_profile__signer_reproduces_vector() -> None:
    headers = sign_request_rfc9421(
        method="POST",
        url=MASTODON["message"]["url"],
        headers={"Host": "mastodon.example"},
        body=MASTODON["message"]["body"].encode(),
        key_id="https://social.example/actor#main-key",
        private_key=_private("test-key-rsa"),
        now=datetime.fromtimestamp(1618884473, UTC),
    )
    assert headers["content-digest"] == MASTODON["message"]["headers"]["Content-Digest"]
    assert headers["signature-input"] == MASTODON["signature_input"]
    assert headers["signature"] == MASTODON["signature"]


def test_mastodon_profile__body_digest_mismatch() -> None:
    with pytest.raises(DigestError, match="Computed"):
        _verify_mastodon(_mastodon_headers(), body=b'{"hello": "world"} ')


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(hours=1, minutes=5), True),
        (timedelta(hours=1, minutes=5, seconds=1), False),
        (-timedelta(hours=1), True),
        (-timedelta(hours=1, seconds=1), False),
    ],
)
def test_mastodon_profile__time_window(offset: timedelta, ok: bool) -> None:
    created = datetime.fromtimestamp(1618884473, UTC)
    if ok:
        _verify_mastodon(_mastodon_headers(), now=created + offset)
    else:
        with pytest.raises(SignatureError, match="time window"):
            _verify_mastodon(_mastodon_headers(), now=created + offset)


def _resigned(components: list[str], params: dict[str, Any], label: str = "sig1") -> dict[str, str]:
    headers = dict(MASTODON["message"]["headers"])
    message = HttpMessage(headers, method="POST", url=MASTODON["message"]["url"])
    key = _private("test-key-rsa")
    signed = sign_message(message, components, params, key, label=label)
    return dict(headers, **{"Signature-Input": signed.signature_input, "Signature": signed.signature})


@pytest.mark.parametrize(
    ("components", "params", "reason"),
    [
        (["@method", "@target-uri"], {"created": 1618884473}, "content-digest"),
        (["@method", "content-digest"], {"created": 1618884473}, "@target-uri"),
        (["@target-uri", "content-digest"], {"created": 1618884473}, "@method"),
        (["@method", "@target-uri", "content-digest"], {"keyid": "k"}, "created"),
    ],
)
def test_mastodon_profile__requirements(components: list[str], params: dict[str, Any], reason: str) -> None:
    headers = _resigned(components, params)
    with pytest.raises(SignatureError, match=reason):
        _verify_mastodon(headers)


def test_mastodon_profile__requires_exactly_one_signature() -> None:
    headers = _mastodon_headers()
    headers["Signature-Input"] += ", " + MASTODON["signature_input"].replace("sig1=", "sig2=", 1)
    headers["Signature"] += ", " + MASTODON["signature"].replace("sig1=", "sig2=", 1)
    with pytest.raises(SignatureError, match="exactly one"):
        _verify_mastodon(headers)


def test_mastodon_profile__content_digest_needs_sha256() -> None:
    headers = _resigned(["@method", "@target-uri", "content-digest"], {"created": 1618884473})
    headers["Content-Digest"] = "sha-512=:" + base64.b64encode(b"x" * 64).decode() + ":"
    with pytest.raises(DigestError, match="sha-256"):
        _verify_mastodon(headers)


def test_verify__alg_parameter_must_match_requested_algorithm() -> None:
    case = next(c for c in CASES if c["id"] == "4.3-proxy_sig")
    with pytest.raises(SignatureError, match="does not match"):
        verify_message(_message(case["message"]), _signature(case), _public("test-key-rsa"), algorithm="rsa-pss-sha512")


@pytest.mark.parametrize(
    ("signature_input", "signature"),
    [
        ('sig1=("@method");created=1', "sig2=:AAAA:"),
        ('sig1="@method"', "sig1=:AAAA:"),
        ('sig1=("@method"', "sig1=:AAAA:"),
        ('sig1=("@method")', 'sig1="AAAA"'),
    ],
)
def test_parse__malformed_fields_rejected(signature_input: str, signature: str) -> None:
    with pytest.raises(SignatureError):
        parse_signatures(signature_input, signature)


def test_signature_base__unknown_component_rejected() -> None:
    (parsed,) = parse_signatures('sig1=("@nope");created=1', "sig1=:AAAA:")
    with pytest.raises(SignatureError, match="unknown derived component"):
        signature_base(HttpMessage({}, method="GET", url="https://a.example/"), parsed.components)


def test_signature_base__missing_header_rejected() -> None:
    (parsed,) = parse_signatures('sig1=("x-absent");created=1', "sig1=:AAAA:")
    with pytest.raises(SignatureError, match="missing"):
        signature_base(HttpMessage({}, method="GET", url="https://a.example/"), parsed.components)


@pytest.mark.parametrize(
    ("url", "component", "value"),
    [
        ("https://Example.COM:443/a?b=1", "@authority", "example.com"),
        ("http://example.com:8080/a", "@authority", "example.com:8080"),
        ("HTTPS://example.com/a", "@scheme", "https"),
        ("https://example.com/a/b?c=d&e", "@request-target", "/a/b?c=d&e"),
        ("https://example.com", "@path", "/"),
        ("https://example.com/a", "@query", "?"),
        ("https://example.com/a?q=a%20b&x=y", '"@query-param";name="q"', "a%20b"),
        ("https://example.com/a?q=a+b", '"@query-param";name="q"', "a%20b"),
    ],
)
def test_component_value__derived_components(url: str, component: str, value: str) -> None:
    identifier = component if component.startswith('"') else f'"{component}"'
    (parsed,) = parse_signatures(f"sig1=({identifier});created=1", "sig1=:AAAA:")
    base = signature_base(HttpMessage({}, method="GET", url=url), parsed.components)
    assert base.splitlines()[0] == f"{identifier}: {value}"


def test_component_value__repeated_query_param_rejected() -> None:
    (parsed,) = parse_signatures('sig1=("@query-param";name="a");created=1', "sig1=:AAAA:")
    with pytest.raises(SignatureError, match="occurs 2 times"):
        signature_base(HttpMessage({}, method="GET", url="https://e.example/?a=1&a=2"), parsed.components)


def test_component_value__status_only_on_responses() -> None:
    (parsed,) = parse_signatures('sig1=("@status");created=1', "sig1=:AAAA:")
    with pytest.raises(SignatureError, match="only defined for responses"):
        signature_base(HttpMessage({}, method="GET", url="https://e.example/"), parsed.components)
