"""ActivityPub §6 requirements not covered elsewhere in tests/c2s, one test per section named: §6.2 (recipients
copied from the Create onto its object), §6.10 (Undo only by the undone activity's actor), §6.11 (never a
delivery to Public; a post to Public alone is delivered to nobody)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from fediserver.models import DeliveryJob
from tests.c2s.conftest import PUBLIC, Client, ClientFor, problem_text


async def _created(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(body)
    assert answer.status_code == 201, answer.text
    doc: dict[str, Any] = (await client.get(answer.headers["Location"])).json()
    return doc


async def test_6_2__recipients_of_the_create_are_copied_to_its_object(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    followers = f"{alice.actor}/followers"
    create = await _created(
        alice, {"type": "Create", "to": [PUBLIC], "cc": [followers], "object": {"type": "Note", "content": "x"}}
    )
    assert PUBLIC in create["object"]["to"]
    assert followers in create["object"]["cc"]


async def test_6_10__undo_only_by_the_actor_of_the_undone_activity(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice", "carol", "dave"])
    alice, carol, dave = [await client_for(a, name) for name in ("alice", "carol", "dave")]
    note = (await _created(alice, {"type": "Note", "content": "like me", "to": [PUBLIC]}))["object"]["id"]
    like = await carol.post({"type": "Like", "object": note})
    assert like.status_code == 201, like.text
    by_id = await dave.post({"type": "Undo", "object": like.headers["Location"]})
    assert by_id.status_code == 400
    assert "object-does-not-exist" in problem_text(by_id)
    embedded = {"type": "Like", "id": like.headers["Location"], "actor": carol.actor, "object": note}
    assert (await dave.post({"type": "Undo", "object": embedded})).status_code == 403
    # the twin: carol, who liked it, undoes it
    assert (await carol.post({"type": "Undo", "object": like.headers["Location"]})).status_code == 201


async def test_6_11__public_is_never_a_delivery_target(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice = await client_for(a, "alice")
    public_only = await alice.post({"type": "Note", "content": "to the world", "to": [PUBLIC]})
    assert public_only.status_code == 201
    async with a.sessions() as session:
        jobs = list(await session.scalars(select(DeliveryJob)))
    assert jobs == []  # no followers, no addressees: delivered to nobody, readable in the outbox
    named = await alice.post({"type": "Note", "content": "and bob", "to": [PUBLIC, b.actor_url("bob")]})
    assert named.status_code == 201
    async with a.sessions() as session:
        inboxes = list(await session.scalars(select(DeliveryJob.inbox_url)))
        total = await session.scalar(select(func.count()).select_from(DeliveryJob))
    assert total == 1
    assert all(PUBLIC not in inbox and inbox.startswith(b.base) for inbox in inboxes)
