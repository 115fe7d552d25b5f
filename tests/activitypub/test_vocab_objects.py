"""AS2 helpers read every compacted form; builders emit what Mastodon requires."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from activitypub import objects
from activitypub.errors import InvalidObject
from activitypub.vocab import (
    AS_CONTEXT,
    PUBLIC,
    as_list,
    get_id,
    get_ids,
    has_as_context,
    has_type,
    is_as2_content_type,
    is_public,
    require_id,
)

ACTOR = "https://social.example/users/alice"
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://a.example/1", ["https://a.example/1"]),
        ({"id": "https://a.example/1", "type": "Note"}, ["https://a.example/1"]),
        ({"type": "Link", "href": "https://a.example/1"}, ["https://a.example/1"]),
        (
            ["https://a.example/1", {"id": "https://a.example/2"}],
            ["https://a.example/1", "https://a.example/2"],
        ),
        (None, []),
        ({"type": "Note"}, []),
    ],
)
def test_get_ids__every_compacted_form(value: Any, expected: list[str]) -> None:
    assert get_ids(value) == expected
    assert get_id(value) == (expected[0] if expected else None)


def test_as_list__wraps_single_values() -> None:
    assert as_list("x") == ["x"]
    assert as_list(["x"]) == ["x"]
    assert as_list(None) == []


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/activity+json", True),
        ("application/activity+json; charset=utf-8", True),
        ('application/ld+json; profile="https://www.w3.org/ns/activitystreams"', True),
        ("application/ld+json", False),
        ("application/json", False),
        ("text/html", False),
        (None, False),
    ],
)
def test_is_as2_content_type__mastodon_rule(content_type: str | None, ok: bool) -> None:
    assert is_as2_content_type(content_type) is ok


@pytest.mark.parametrize(("value", "ok"), [([PUBLIC], True), ("as:Public", True), ("Public", True), ([ACTOR], False)])
def test_is_public__accepts_mastodon_spellings(value: Any, ok: bool) -> None:
    assert is_public(value) is ok


def test_require_id__rejects_missing_or_non_http() -> None:
    assert require_id({"id": "https://a.example/1"}) == "https://a.example/1"
    with pytest.raises(InvalidObject):
        require_id({"id": "urn:uuid:1"})
    with pytest.raises(InvalidObject):
        require_id({})


def test_actor__has_mastodon_required_fields() -> None:
    doc = objects.actor(id=ACTOR, username="alice", public_key_pem="PEM", fields=[("Site", "<a>x</a>")])
    assert has_as_context(doc)
    assert "https://w3id.org/security/v1" in doc["@context"]
    for name in ("inbox", "outbox", "followers", "following", "preferredUsername"):
        assert doc[name]
    assert doc["publicKey"] == {"id": f"{ACTOR}#main-key", "owner": ACTOR, "publicKeyPem": "PEM"}
    assert {doc[k] for k in ("manuallyApprovesFollowers", "discoverable", "indexable")} == {False}
    assert doc["attachment"] == [{"type": "PropertyValue", "name": "Site", "value": "<a>x</a>"}]
    assert doc["@context"][2]["schema"] == "http://schema.org#"


def test_actor__refuses_type_mastodon_ignores() -> None:
    with pytest.raises(ValueError, match="ignores"):
        objects.actor(id=ACTOR, username="alice", public_key_pem="PEM", type="Bot")


def test_note_and_create__copy_addressing() -> None:
    n = objects.note(
        id=f"{ACTOR}/notes/1",
        attributed_to=ACTOR,
        content="<p>hi</p>",
        published=WHEN,
        to=[PUBLIC],
        cc=[f"{ACTOR}/followers"],
        language="en",
    )
    assert n["published"] == "2024-05-01T12:00:00Z"
    assert n["contentMap"] == {"en": "<p>hi</p>"}
    c = objects.create(id=f"{ACTOR}/notes/1/activity", actor=ACTOR, object=n)
    assert c["to"] == [PUBLIC]
    assert c["cc"] == [f"{ACTOR}/followers"]
    assert "@context" not in c["object"]
    assert has_type(c, "Create")


def test_accept__embeds_original_follow_with_id() -> None:
    f = objects.follow(id="https://remote.example/f/1", actor="https://remote.example/u/bob", object=ACTOR)
    a = objects.accept(id=f"{ACTOR}#accepts/1", actor=ACTOR, object=f)
    assert a["object"]["id"] == "https://remote.example/f/1"
    assert a["to"] == ["https://remote.example/u/bob"]
    r = objects.reject(id=f"{ACTOR}#rejects/1", actor=ACTOR, object=f)
    assert r["type"] == "Reject"


def test_other_builders__types_and_fields() -> None:
    assert objects.like(id="l", actor=ACTOR, object="o")["type"] == "Like"
    assert objects.undo(id="u", actor=ACTOR, object={"id": "l", "type": "Like"})["object"]["id"] == "l"
    ann = objects.announce(id="a", actor=ACTOR, object="o", published=WHEN, to=[PUBLIC])
    assert ann["published"] == "2024-05-01T12:00:00Z"
    t = objects.tombstone(id="o", former_type="Note", deleted=WHEN)
    d = objects.delete(id="d", actor=ACTOR, object=t, to=[PUBLIC])
    assert d["object"] == {
        "id": "o",
        "type": "Tombstone",
        "formerType": "Note",
        "deleted": "2024-05-01T12:00:00Z",
    }
    u = objects.update(id="up", actor=ACTOR, object={"@context": AS_CONTEXT, "id": ACTOR, "type": "Person"})
    assert u["@context"] == AS_CONTEXT
    assert "@context" not in u["object"]


def test_iso8601__refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        objects.iso8601(datetime(2024, 1, 1))
