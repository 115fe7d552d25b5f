"""Reading the inbox (ActivityPub §5.2, §6): its owner's token reads what was delivered to the user as a
paged OrderedCollection; nobody else reads it."""

from __future__ import annotations

from typing import Any

from tests.c2s.conftest import PUBLIC, Client, ClientFor


async def _inbox_ids(client: Client) -> list[str]:
    inbox = (await client.actor_doc())["inbox"]
    top = await client.get(inbox)
    assert top.status_code == 200, top.text
    assert top.json()["type"] == "OrderedCollection"
    page = (await client.get(top.json()["first"])).json()
    assert page["type"] == "OrderedCollectionPage"
    return [item["id"] for item in page["orderedItems"]]


async def test_5_2__owner_reads_what_was_delivered(instances: Any, client_for: ClientFor, wait: Any) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob", "carol"])
    alice, bob = await client_for(a, "alice"), await client_for(b, "bob")
    follow = await bob.post({"type": "Follow", "object": alice.actor})
    assert follow.status_code == 201

    async def accepted() -> bool:
        return bool((await alice.get(f"{alice.actor}/followers")).json()["totalItems"])

    await wait(accepted)
    public = await alice.post({"type": "Note", "content": "to my followers", "to": [PUBLIC]})
    direct = await alice.post({"type": "Note", "content": "just you", "to": [bob.actor], "bcc": [bob.actor]})
    wanted = {public.headers["Location"], direct.headers["Location"]}

    async def delivered() -> bool:
        return wanted <= set(await _inbox_ids(bob))

    await wait(delivered)
    page = (await bob.get(f"{bob.actor}/inbox?page=1")).json()
    assert all("bcc" not in item and "bto" not in item for item in page["orderedItems"])
    # carol received nothing and cannot read bob's inbox
    carol = await client_for(b, "carol")
    assert await _inbox_ids(carol) == []
    assert (await carol.get(f"{bob.actor}/inbox")).status_code == 403
    anonymous = await client_for(b, "bob", token=None)
    assert (await anonymous.get(f"{bob.actor}/inbox")).status_code == 401
    reader = await client_for(b, "bob", "read:statuses")
    assert (await reader.get(f"{bob.actor}/inbox")).status_code == 200
    assert (await reader.get(f"{bob.actor}/inbox?page=x")).status_code == 400


async def test_5_2__a_local_followees_posts_reach_the_inbox(instances: Any, client_for: ClientFor, wait: Any) -> None:
    b = await instances("b", ["bob", "carol", "dave"])
    bob, carol, dave = [await client_for(b, name) for name in ("bob", "carol", "dave")]
    assert (await bob.post({"type": "Follow", "object": carol.actor})).status_code == 201
    post = await carol.post({"type": "Note", "content": "hello, neighbours", "to": [PUBLIC]})
    assert post.status_code == 201

    async def arrived() -> bool:
        return post.headers["Location"] in await _inbox_ids(bob)

    await wait(arrived)
    # dave follows nobody: the same post is not in his inbox
    assert post.headers["Location"] not in await _inbox_ids(dave)
