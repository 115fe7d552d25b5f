"""Reading the inbox (ActivityPub §5.2, §6): its owner's token reads what was delivered to the user as a
paged OrderedCollection; nobody else reads it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert

from fediserver.models import InboundActivity, utcnow
from tests.c2s.conftest import PUBLIC, Client, ClientFor
from tests.federation.test_inbox_postgres import postgres_url

__all__ = ["postgres_url"]


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


async def _bulk_received(b: Any, rows: list[tuple[str, str | None]]) -> None:
    """Processed inbound rows, oldest first: (activity id, recipient username or None)."""
    async with b.sessions() as session:
        users = {name: (await b.user(session, name)).id for name in ("bob", "carol")}
        now = utcnow()
        x = "https://elsewhere.example/users/x"
        await session.execute(
            insert(InboundActivity),
            [
                {
                    "activity_id": uri,
                    "activity_type": "Like",
                    "actor_uri": x,
                    "key_id": f"{x}#main-key",
                    "recipient_actor_id": users[rcpt] if rcpt else None,
                    # the one without a recipient names bob only in its content: a text candidate, not his
                    "body": {"id": uri, "type": "Like", "actor": x, "object": "https://elsewhere.example/n/1",
                             "content": f'"{b.actor_url("bob")}"'},
                    "state": "done",
                    "next_attempt_at": now,
                    "received_at": now,
                }
                for uri, rcpt in rows
            ],
        )  # fmt: skip
        await session.commit()


async def test_5_2__paging_reaches_the_5001st_item_and_nothing_else(instances: Any, client_for: ClientFor) -> None:
    """Keyset pages reach every item (the old page read only the newest 5,000 candidates); the twin checks
    that the same walk shows none of carol's items nor a row that only mentions bob in its text."""
    await _walk_5001(await instances("b", ["bob", "carol"]), client_for)


@pytest.mark.postgres
async def test_5_2__paging_reaches_the_5001st_item_on_postgres(
    instances: Any, client_for: ClientFor, postgres_url: str
) -> None:
    await _walk_5001(await instances("b", ["bob", "carol"], database={"url": postgres_url}), client_for)


async def _walk_5001(b: Any, client_for: ClientFor) -> None:
    bob = await client_for(b, "bob")
    ours = [f"https://elsewhere.example/a/{n}" for n in range(5001)]
    others = [(f"https://elsewhere.example/c/{n}", "carol" if n % 2 else None) for n in range(300)]
    rows: list[tuple[str, str | None]] = [(uri, "bob") for uri in ours]
    for n, other in enumerate(others):
        rows.insert(n * 17, other)  # mixed in among bob's, so pages have to skip them
    await _bulk_received(b, rows)
    seen: list[str] = []
    url: str | None = f"{bob.actor}/inbox?page=1"
    while url is not None:
        page = (await bob.get(url)).json()
        assert len(page["orderedItems"]) <= 20
        seen += [item["id"] for item in page["orderedItems"]]
        url = page.get("next")
    assert seen == ours[::-1]  # all 5,001, newest first, each once
    assert (await bob.get(f"{bob.actor}/inbox?page=2")).status_code == 400
    assert (await bob.get(f"{bob.actor}/inbox?max_id=0")).status_code == 400
