"""The structured rule for what is in a user's inbox (ActivityPub §5.2, §7.1; ``c2s.inbox_rule``), against
vectors; each "it is theirs" case has a twin one id away that is not."""

from __future__ import annotations

from typing import Any

import pytest

from fediserver.c2s.inbox_rule import Reader, concerns

ME = "https://here.example/users/alice"
FRIEND = "https://there.example/users/bob"
FRIENDS_FOLLOWERS = "https://there.example/users/bob/followers"
STRANGER = "https://else.example/users/eve"
MY_NOTE = "https://here.example/notes/n1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
READER = Reader(me_id=1, me_uri=ME, followed={FRIEND: FRIENDS_FOLLOWERS})


def _note(**audience: Any) -> dict[str, Any]:
    return {"type": "Create", "actor": STRANGER, "object": {"type": "Note", "content": "hi", **audience}}


THEIRS: list[tuple[str, str, dict[str, Any]]] = [
    ("to on the activity", STRANGER, {"type": "Create", "to": [ME], "object": {"type": "Note"}}),
    ("cc as a single string", STRANGER, {"type": "Create", "cc": ME, "object": "https://else.example/n"}),
    ("bcc on the object", STRANGER, _note(bcc=[ME])),
    ("bto", STRANGER, _note(bto=ME)),
    ("audience", STRANGER, _note(audience=[{"id": ME}])),
    ("a Follow of them", STRANGER, {"type": "Follow", "object": ME}),
    ("a Like of their post", STRANGER, {"type": "Like", "object": MY_NOTE}),
    ("an Undo of a Like of their post", STRANGER, {"type": "Undo", "object": {"type": "Like", "object": MY_NOTE}}),
    ("a public post of a followed account", FRIEND, {"type": "Create", "to": [PUBLIC], "object": {}}),
    ("as:Public spelling", FRIEND, {"type": "Create", "to": "as:Public", "object": {}}),
    ("a followers-only post of a followed account", FRIEND, {"type": "Create", "to": [FRIENDS_FOLLOWERS]}),
]

NOT_THEIRS: list[tuple[str, str, dict[str, Any]]] = [
    ("a longer actor id", STRANGER, {"type": "Create", "to": [ME + "2"], "object": {"type": "Note"}}),
    ("their id quoted in the content", STRANGER, _note(to=[STRANGER], content=f'"{ME}"')),
    ("their id in a Mention tag only", STRANGER, _note(tag=[{"type": "Mention", "href": ME}], to=[STRANGER])),
    ("a Follow of someone else", STRANGER, {"type": "Follow", "object": ME + "2"}),
    ("a Like of someone else's post", STRANGER, {"type": "Like", "object": "https://here.example/notes/n2"}),
    ("a public post of a stranger", STRANGER, {"type": "Create", "to": [PUBLIC], "object": {}}),
    ("a followed account's DM to a third person", FRIEND, {"type": "Create", "to": [STRANGER], "object": {}}),
    ("another account's followers", FRIEND, {"type": "Create", "to": [STRANGER + "/followers"]}),
]


@pytest.mark.parametrize(("why", "actor", "doc"), THEIRS, ids=[c[0] for c in THEIRS])
def test_5_2__inbox_holds_what_concerns_the_user(why: str, actor: str, doc: dict[str, Any]) -> None:
    assert concerns(None, actor, doc, READER, {MY_NOTE}), why


@pytest.mark.parametrize(("why", "actor", "doc"), NOT_THEIRS, ids=[c[0] for c in NOT_THEIRS])
def test_5_2__inbox_leaves_out_what_does_not(why: str, actor: str, doc: dict[str, Any]) -> None:
    assert not concerns(None, actor, doc, READER, {MY_NOTE}), why


def test_5_2__a_post_to_the_users_own_inbox_is_theirs() -> None:
    doc = {"type": "Create", "to": [STRANGER], "object": {}}
    assert concerns(1, STRANGER, doc, READER, set())
    # stored once, under whichever inbox it reached first: another user's row is judged by the rule
    assert not concerns(2, STRANGER, doc, READER, set())
    assert concerns(2, STRANGER, {**doc, "to": [ME]}, READER, set())
