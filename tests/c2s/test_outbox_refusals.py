"""What the outbox refuses, and how (ActivityPub §6 authentication, c2s.md §7): 401 without a valid token,
403 for a missing scope, another user's outbox, another actor or someone else's object, 400 with a reason
for a body we will not take, 413 and 415 for the transport; never a 5xx."""

from __future__ import annotations

from typing import Any

from tests.c2s.conftest import PUBLIC, ClientFor, problem_text

NOTE = {"type": "Note", "content": "hi", "to": [PUBLIC]}


async def test_6__authentication_is_required(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice", "carol"])
    anonymous = await client_for(a, "alice", token=None)
    assert (await anonymous.post(NOTE)).status_code == 401
    forged = await client_for(a, "alice", token="not-a-token")
    assert (await forged.post(NOTE)).status_code == 401
    # the token of carol cannot post to alice's outbox
    carol = await client_for(a, "carol")
    outbox = (await carol.actor_doc())["outbox"].replace("/carol/", "/alice/")
    answer = await carol.http.post(
        outbox, json=NOTE, headers={**carol.auth, "Content-Type": "application/activity+json"}
    )
    assert answer.status_code == 403
    # the right token works (the twin of the refusals above)
    assert (await carol.post(NOTE)).status_code == 201


async def test_6__scope_is_checked_per_activity_type(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    reader = await client_for(a, "alice", "read")
    assert (await reader.post(NOTE)).status_code == 403
    statuses = await client_for(a, "alice", "write:statuses")
    assert (await statuses.post(NOTE)).status_code == 201
    answer = await statuses.post({"type": "Block", "object": "https://elsewhere.example/users/x"})
    assert answer.status_code == 403
    assert "write:blocks" in problem_text(answer)


async def test_6__actor_and_attributed_to_must_be_the_token_user(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice", "carol"])
    alice = await client_for(a, "alice")
    carol_uri = a.actor_url("carol")
    answer = await alice.post({"type": "Create", "actor": carol_uri, "object": NOTE})
    assert answer.status_code == 403
    assert "principal-actor-mismatch" in problem_text(answer)
    answer = await alice.post({**NOTE, "attributedTo": carol_uri})
    assert answer.status_code == 403
    assert (await alice.post({"type": "Create", "actor": alice.actor, "object": NOTE})).status_code == 201


async def test_6_3_and_6_4__only_own_objects_can_be_updated_or_deleted(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice", "carol"])
    alice, carol = await client_for(a, "alice"), await client_for(a, "carol")
    created = await carol.post(NOTE)
    note = (await carol.get(created.headers["Location"])).json()["object"]["id"]
    assert (await alice.post({"type": "Update", "object": {"id": note, "content": "mine now"}})).status_code == 403
    assert (await alice.post({"type": "Delete", "object": note})).status_code == 403
    assert "hi" in (await carol.get(note)).json()["content"]
    assert (await carol.post({"type": "Delete", "object": note})).status_code == 201


async def test_6_6__add_only_to_own_featured(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice", "carol"])
    alice = await client_for(a, "alice")
    created = await alice.post(NOTE)
    note = (await alice.get(created.headers["Location"])).json()["object"]["id"]
    carols = f"{a.actor_url('carol')}/collections/featured"
    assert (await alice.post({"type": "Add", "object": note, "target": carols})).status_code == 403


async def test_6__bad_bodies_are_400_with_a_reason(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    deep: Any = "x"
    for _ in range(40):
        deep = {"type": "Note", "content": deep}
    cases: list[tuple[Any, str]] = [
        (b"{not json", "not JSON"),
        ([NOTE], "one JSON object"),
        ({"content": "no type"}, "type"),
        ({"type": "Like"}, "object"),
        ({"type": "Add", "object": "https://x.example/1"}, "target"),
        ({"type": "Accept", "object": "https://x.example/1"}, "unsupported-type"),
        ({"type": "Create", "object": {"type": "Article", "content": "long"}}, "unsupported-type"),
        ({"type": "Create", "object": 5}, "object"),
        ({"type": "Note", "content": "x", "to": [{"no": "id"}]}, "to"),
        ({"type": "Note", "content": 5}, "content"),
        ({"type": "Note", "content": "", "to": [PUBLIC]}, "text"),
        ({"type": "Note", "content": "x", "attachment": [{"url": "https://x.example/a"}]}, "attachment"),
        ({"type": "Undo", "object": "https://x.example/never"}, "object-does-not-exist"),
        (deep, "deeper"),
    ]  # fmt: skip
    for body, reason in cases:
        answer = await alice.post(body)
        assert answer.status_code == 400, (body, answer.status_code, answer.text)
        assert reason in problem_text(answer), (body, answer.json())


async def test_6__transport_limits(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    assert (await alice.post(NOTE, **{"Content-Type": "text/plain"})).status_code == 415
    huge = b'{"type":"Note","content":"' + b"x" * 1_100_000 + b'"}'
    assert (await alice.post(huge)).status_code == 413
    assert (await alice.post(NOTE, **{"Content-Type": "application/activity+json"})).status_code == 201
