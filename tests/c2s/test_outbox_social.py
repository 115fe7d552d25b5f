"""ActivityPub §6.5–6.10 through the outbox, between two fediservers on loopback: Follow (and its Undo),
Like and Undo, Announce, Block, Add/Remove on ``featured``; each side's state is checked."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from fediserver.models import ActorBlock, Announce, Follow, Like
from tests.c2s.conftest import PUBLIC, Client, ClientFor
from tests.federation.conftest import Instance


async def _state(server: Instance, follower: str, followed: str) -> str | None:
    async with server.sessions() as session:
        state: str | None = await session.scalar(
            select(Follow.state).where(Follow.follower_uri == follower, Follow.followed_uri == followed)
        )
        return state


async def _post(client: Client, body: dict[str, Any]) -> str:
    answer = await client.post(body)
    assert answer.status_code == 201, answer.text
    return answer.headers["Location"]


async def _note(client: Client, text: str) -> str:
    create = (await client.get(await _post(client, {"type": "Note", "content": text, "to": [PUBLIC]}))).json()
    uri: str = create["object"]["id"]
    return uri


async def test_6_5__follow_is_pending_until_accepted_and_undo_reverts_it(
    instances: Any, client_for: ClientFor, wait: Any
) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    bob = await client_for(b, "bob")
    alice_uri = a.actor_url("alice")
    follow_id = await _post(bob, {"type": "Follow", "object": alice_uri})
    assert await _state(b, bob.actor, alice_uri) in ("pending", "accepted")

    async def accepted() -> bool:
        return await _state(b, bob.actor, alice_uri) == "accepted"

    await wait(accepted)  # §6.5: added to following only once the Accept arrived
    following = (await bob.get(f"{bob.actor}/following?page=1")).json()
    assert following["orderedItems"] == [alice_uri]
    # Undo by the id the server gave the Follow (§6.10)
    await _post(bob, {"type": "Undo", "object": follow_id})
    assert await _state(b, bob.actor, alice_uri) is None

    async def gone_on_alices_side() -> bool:
        return await _state(a, bob.actor, alice_uri) is None

    await wait(gone_on_alices_side)


async def test_6_8__like_adds_to_likes_and_undo_removes_it(instances: Any, client_for: ClientFor, wait: Any) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice, bob = await client_for(a, "alice"), await client_for(b, "bob")
    note = await _note(alice, "like me")
    like_id = await _post(bob, {"type": "Like", "object": note})

    async def liked_on(server: Instance) -> bool:
        async with server.sessions() as session:
            found = await session.scalar(select(Like.id).where(Like.actor_uri == bob.actor, Like.note_uri == note))
            return found is not None

    assert await liked_on(b)
    await wait(lambda: liked_on(a))
    # §6.10: Undo with the Like embedded, as most clients send it
    await _post(bob, {"type": "Undo", "object": {"type": "Like", "id": like_id, "actor": bob.actor, "object": note}})
    assert not await liked_on(b)

    async def unliked() -> bool:
        return not await liked_on(a)

    await wait(unliked)


async def test_6__announce_and_undo(instances: Any, client_for: ClientFor, wait: Any) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice, bob = await client_for(a, "alice"), await client_for(b, "bob")
    note = await _note(alice, "boost me")
    boost_id = await _post(bob, {"type": "Announce", "object": note, "to": [PUBLIC]})

    async def boosted() -> bool:
        async with a.sessions() as session:
            found = await session.scalar(select(Announce.id).where(Announce.note_uri == note))
            return found is not None

    await wait(boosted)
    await _post(bob, {"type": "Undo", "object": boost_id})

    async def unboosted() -> bool:
        return not await boosted()

    await wait(unboosted)


async def test_6_9__block_is_stored_and_undo_lifts_it(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    bob = await client_for(b, "bob")
    alice_uri = a.actor_url("alice")

    async def blocks() -> list[str]:
        async with b.sessions() as session:
            return list(await session.scalars(select(ActorBlock.target_uri).where(ActorBlock.actor_uri == bob.actor)))

    block_id = await _post(bob, {"type": "Block", "object": alice_uri})
    assert await blocks() == [alice_uri]
    await _post(bob, {"type": "Undo", "object": {"type": "Block", "id": block_id, "object": alice_uri}})
    assert await blocks() == []


async def test_6_6_and_6_7__add_and_remove_change_featured(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    note = await _note(alice, "pin me")
    featured = f"{alice.actor}/collections/featured"
    await _post(alice, {"type": "Add", "object": note, "target": featured})
    items = (await alice.get(featured)).json()["orderedItems"]
    assert [item["id"] for item in items] == [note]
    await _post(alice, {"type": "Remove", "object": note, "target": featured})
    assert (await alice.get(featured)).json()["orderedItems"] == []
