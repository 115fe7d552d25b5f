"""Digest, Content-Digest (RFC 9530) and the structured-field parser (RFC 8941)."""

from __future__ import annotations

import pytest

from activitypub.digest import (
    content_digest_header,
    digest_header,
    verify_content_digest,
    verify_digest_header,
)
from activitypub.errors import DigestError, StructuredFieldError
from activitypub.sfv import InnerList, Item, Token, parse_dictionary, parse_inner_list, serialize_dictionary

BODY = b'{"hello": "world"}'


def test_digest__matches_federation_vector() -> None:
    assert digest_header(BODY) == "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
    verify_digest_header("sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=, MD5=abc", BODY)
    with pytest.raises(DigestError, match="Computed SHA-256"):
        verify_digest_header("SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPF=", BODY)
    with pytest.raises(DigestError, match="no SHA-256"):
        verify_digest_header("SHA-512=abc", BODY)


def test_content_digest__rfc9530_and_rfc9421_values() -> None:
    assert content_digest_header(BODY) == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    both = content_digest_header(BODY, ("sha-256", "sha-512"))
    assert both.endswith(
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
    )
    verify_content_digest(both, BODY)
    with pytest.raises(DigestError, match="Computed"):
        verify_content_digest(both, BODY + b" ")
    with pytest.raises(DigestError, match="no sha-256"):
        verify_content_digest("sha-512=:" + both.split("sha-512=:")[1], BODY)
    with pytest.raises(DigestError, match="not a byte sequence"):
        verify_content_digest("sha-256=X48E", BODY)
    with pytest.raises(DigestError, match="malformed"):
        verify_content_digest("sha-256=:X48E", BODY)
    with pytest.raises(DigestError, match="unsupported"):
        content_digest_header(BODY, ("md5",))


def test_sfv__round_trips_signature_input() -> None:
    text = 'sig1=("@method" "@query-param";name="Pet");created=1618884473;keyid="k\\"q";tag=t;ok;n=-1.5'
    parsed = parse_dictionary(text)
    member = parsed["sig1"]
    assert isinstance(member, InnerList)
    assert member.items[1].params == {"name": "Pet"}
    assert member.params["keyid"] == 'k"q'
    assert isinstance(member.params["tag"], Token)
    assert member.params["ok"] is True
    assert member.params["n"] == -1.5
    assert serialize_dictionary(parsed) == text


def test_sfv__bare_true_members_and_bytes() -> None:
    parsed = parse_dictionary("a, b=:AQID:, c=?0")
    assert parsed["a"] == Item(True)
    assert parsed["b"] == Item(b"\x01\x02\x03")
    assert parsed["c"] == Item(False)
    assert serialize_dictionary(parsed) == "a, b=:AQID:, c=?0"


@pytest.mark.parametrize(
    "text",
    ["sig1=(", 'sig1="abc', "Sig1=1", "a=1,", "a=1 b=2", 'a="\\x"', "a=:!!:", "a=?2", "a=(1 2"],
)
def test_sfv__malformed_rejected(text: str) -> None:
    with pytest.raises(StructuredFieldError):
        parse_dictionary(text)


def test_sfv__inner_list_must_be_whole() -> None:
    assert parse_inner_list('("a");x=1').params == {"x": 1}
    with pytest.raises(StructuredFieldError):
        parse_inner_list('("a") trailing')


@pytest.mark.parametrize(
    "text",
    [
        'sig1=("@method" "@target-uri" "content-digest");created=1618884473;keyid="https://a.example/k#main"',
        'sig1=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"',
        'a=("x"), b=("y" "z");n=-3',
        'sig1=("a b" "c");alg="rsa-v1_5-sha256";expires=0',
        'sig1=("@query-param";name="Pet");created=1',
        'sig1=("x");created=01',
        'sig1=("x");created=1;created=2',
        'sig1=("x"),sig2=("y")',
        'sig1=("x");tag=token',
    ],
)
def test_sfv__fast_path_agrees_with_general_parser(text: str) -> None:
    from activitypub.sfv import _Parser

    general = _Parser(text).dictionary()
    assert parse_dictionary(text) == general
    for member in parse_dictionary(text).values():
        if isinstance(member, InnerList):
            rebuilt = InnerList(member.items, member.params)
            assert member.serialize() == rebuilt.serialize()
