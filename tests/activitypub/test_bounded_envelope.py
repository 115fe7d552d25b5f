"""Vectors for `loads_bounded`, `check_url` and `parse_activity`: each refusal beside its accepted twin."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest

import activitypub as ap
from activitypub import bounded

LIMITS = ap.EnvelopeLimits()
ACTOR = "https://remote.example/users/bob"


def _activity(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": [ap.AS_CONTEXT, {"toot": "http://joinmastodon.org/ns#"}],
        "id": f"{ACTOR}#likes/1",
        "type": "Like",
        "actor": ACTOR,
        "object": "https://remote.example/notes/1",
        "to": [ap.PUBLIC, "as:Public"],
    }
    for key, value in changes.items():
        if value is ...:
            doc.pop(key)
        else:
            doc[key] = value
    return doc


def _parse(doc: Any) -> ap.Envelope:
    return ap.parse_activity(json.dumps(doc).encode(), LIMITS)


def test_honest_activity__parses_into_typed_values() -> None:
    envelope = _parse(_activity())
    assert (envelope.id, envelope.type, envelope.actor) == (f"{ACTOR}#likes/1", "Like", ACTOR)
    assert envelope.object_id == "https://remote.example/notes/1"


@pytest.mark.parametrize(
    ("depth", "ok"), [(64, True), (65, False), (930, False), (100_000, False)], ids=["64", "65", "930", "100k"]
)
def test_depth__64_levels_and_no_more(depth: int, ok: bool) -> None:
    body = b"[" * depth + b"]" * depth
    if ok:
        assert ap.loads_bounded(body, ap.JsonLimits()) is not None
    else:
        with pytest.raises(ap.MalformedDocument, match="deeper than 64"):
            ap.loads_bounded(body, ap.JsonLimits())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": "\\u0000"}', "NUL"),
        (b'{"a": "\\ud800"}', "surrogate"),
        (b'{"\\u0000": 1}', "NUL"),
        (b'{"a": "' + b"x" * 200_001 + b'"}', "longer than"),
        (b"[" + b"1," * 2_000 + b"1]", "more than 2000 items"),
        (b'{"a": "\xed\xa0\x80"}', "surrogate"),  # a lone surrogate in the bytes themselves
        ('{"a": "\ud800"}', "surrogate"),
        (b'{"c": "\\u003cp\\u003e", "o": {"a": ["\\u0000"]}}', "NUL"),  # Mastodon escapes < and >
        (b'{"' + b"k" * 257 + b'": 1}', "a key longer than 256"),
        (b'{"' + b'k\\"' * 130 + b'": 1}', "a key longer than 256"),  # escaped quotes inside
        (b"[" * 65 + b"]" * 65, "deeper than 64"),
        (b"{" + b",".join(b'"k%d": 1' % i for i in range(1_001)) + b"}", "more than 1000 members"),
        ('{"a": "' + "\u00e9" * 200_001 + '"}', "longer than"),
        (b"\xff\xfe{", "not JSON"),
        (b"{", "not JSON"),
        (b"1" * 5000, "not JSON"),
    ],
)
def test_bad_json__is_refused_with_a_reason(body: bytes | str, reason: str) -> None:
    with pytest.raises(ap.MalformedDocument, match=reason):
        ap.loads_bounded(body, ap.JsonLimits())


def test_bad_json__twins_parse() -> None:
    limits = ap.JsonLimits()
    assert ap.loads_bounded(b'{"a": 1.5, "b": "\\ud83d\\ude00", "c": "' + b"x" * 200_000 + b'"}', limits)["a"] == 1.5
    assert len(ap.loads_bounded(b"[" + b"1," * 1_999 + b"1]", limits)) == 2_000
    assert ap.loads_bounded(b'{"c": "\\u003cp\\u003e\\u00e9", "' + b"k" * 256 + b'": 1}', limits)["c"] == "<p>\u00e9"
    assert ap.loads_bounded('{"a": "\u00e9"}'.encode("utf-16"), limits) == {"a": "\u00e9"}


_URL_PARTS = (
    ("http", "https", "HTTP", "ftp", ""),
    ("://", ":/", "//"),
    ("", "a", "e.example", "A-b.C", "-", ".", "e.", "[::1]", "u@h", "1.2.3.4", "ex%41.com", "a_b"),
    ("", ":", ":0", ":1", ":80", ":65535", ":65536", ":99999", ":08", ":123456", ":x"),
    ("", "/", "/p?q#f", "?q", "#f", "@x", "/a@b", ":", "x"),
)


def _url_outcome(url: str, fragment: bool) -> str:
    try:
        return ap.check_url(url, "x", fragment=fragment)
    except ap.InvalidObject as exc:
        return str(exc)


def test_check_url__plain_shape_shortcut_agrees_with_the_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    urls = ["".join(parts) for parts in itertools.product(*_URL_PARTS)]
    shortcut = {(url, fragment): _url_outcome(url, fragment) for url in urls for fragment in (True, False)}
    monkeypatch.setattr(bounded, "_PLAIN_URL", re.compile("(?!)"))  # matches nothing: every URL is parsed
    parsed = {key: _url_outcome(*key) for key in shortcut}
    assert shortcut == parsed
    assert sum(outcome == url for (url, _), outcome in parsed.items()) > 500  # both ways accept a good many


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://e.example/a", False),
        ("http://e.example:8080/a?b=c", False),
        ("https://e.example/a#main-key", True),
        ("https://é.example/ü", False),
        ("https://e.example/" + "a" * (ap.MAX_URL_LENGTH - 18), False),
    ],
)
def test_check_url__accepts(url: str, fragment: bool) -> None:
    assert ap.check_url(url, "x", fragment=fragment) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (5, "expected a URL string"),
        (["https://e.example/"], "expected a URL string"),
        ("", "not an absolute"),
        ("ftp://e.example/", "not an absolute"),
        ("javascript:alert(1)", "not an absolute"),
        ("https://", "not an absolute"),
        ("https://user:pw@e.example/", "userinfo"),
        ("https://e.example:99999/", "not a URL"),
        ("https://[::1/", "not a URL"),
        ("https://e.example/a b", "whitespace"),
        ("https://e.example/\x00", "whitespace"),
        ("https://e.example/" + "a" * (ap.MAX_URL_LENGTH - 17), "longer than 2048"),
        ("https://e.example/a#frag", "fragment"),
    ],
)
def test_check_url__refuses(url: Any, reason: str) -> None:
    with pytest.raises(ap.InvalidObject, match=reason):
        ap.check_url(url, "x", fragment=False)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"@context": ""}, "@context"),
        ({"@context": "\u0000"}, "NUL"),
        ({"@context": "garbage garbage"}, "@context"),
        ({"@context": 5}, "@context"),
        ({"@context": [ap.AS_CONTEXT, 5]}, "@context"),
        ({"type": 5}, "type"),
        ({"type": [["Like"]]}, "type"),
        ({"type": ...}, "no type"),
        ({"type": ""}, "type"),
        ({"id": ...}, "id"),
        ({"id": ["https://remote.example/1"]}, "id"),
        ({"id": {"id": "https://remote.example/1"}}, "id"),
        ({"actor": ...}, "no actor"),
        ({"actor": 5}, "actor"),
        ({"actor": [ACTOR, ACTOR]}, "one actor"),
        ({"actor": ACTOR + "#me"}, "fragment"),
        ({"object": 5}, "object"),
        ({"object": [["https://remote.example/1"]]}, "list inside a list"),
        ({"object": {"id": 5}}, "object.id"),
        ({"object": {"type": "Note", "content": 5}}, "content"),
        ({"object": {"type": "Note", "contentMap": {"en": 5}}}, "contentMap"),
        ({"object": {"type": "Note", "sensitive": "yes"}}, "sensitive"),
        ({"object": {"type": "Note", "tag": [{"type": "Mention"}] * 257}}, "tags"),
        ({"object": {"type": "Note", "attachment": [{"type": "Image"}] * 65}}, "attachments"),
        ({"object": {"type": "Note", "url": {"type": "Link", "href": "javascript:x"}}}, "href"),
        ({"to": [f"https://remote.example/u/{n}" for n in range(1_001)]}, "recipients"),
        ({"to": "not a url"}, "to"),
    ],
)
def test_bad_shapes__are_refused_with_a_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ap.InvalidObject, match=reason):
        _parse(_activity(**changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"@context": ap.AS_CONTEXT},
        {"@context": ...},
        {"type": ["Like", "toot:EmojiReact"]},
        {"actor": {"id": ACTOR, "type": "Person"}},
        {"object": {"type": "Note", "content": "hi", "contentMap": {"en": "hi"}, "summary": None}},
        {"object": {"type": "Note", "tag": ["#plain", {"type": "Hashtag", "name": "#x"}] * 128}},
        {"object": {"type": "Note", "attachment": [{"type": "Image", "url": "https://r.example/i.png"}] * 64}},
        {"object": ["https://remote.example/1", "https://remote.example/2"]},
        {"to": [f"https://remote.example/u/{n}" for n in range(1_000)]},
    ],
)
def test_bad_shapes__twins_are_accepted(changes: dict[str, Any]) -> None:
    assert _parse(_activity(**changes)).actor == ACTOR


def test_body_that_is_not_an_object__is_refused() -> None:
    with pytest.raises(ap.MalformedDocument, match="not a JSON object"):
        ap.parse_activity(b"[]", LIMITS)
