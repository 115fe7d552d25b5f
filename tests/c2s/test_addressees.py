"""Local users named only in ``to``/``cc``/``bcc`` (not mentioned in the text) are notified and find the post
in their inbox, whether a local ActivityPub client or a remote server addressed them (§6.1, §7.1)."""

from __future__ import annotations

from typing import Any

import httpx

from fediserver.domain import notifications
from tests.c2s.conftest import Client, ClientFor


async def _inbox_objects(client: Client) -> list[str]:
    page = (await client.get(f"{client.actor}/inbox?page=1")).json()
    return [ap_id for item in page["orderedItems"] if (ap_id := (item.get("object") or {}).get("id"))]


async def _mentions(server: Any, client: Client) -> list[str | None]:
    """The user's mention notifications, read through the domain (the Mastodon notifications API is a stub)."""
    username = client.actor.rsplit("/", 1)[-1]
    async with server.sessions() as session:
        me = await server.user(session, username)
        rows = await notifications.list_notifications(session, me, notifications.NotificationQuery(types=["mention"]))
        return [row.note_uri for row in rows]


async def _note_of(client: Client, answer: httpx.Response) -> str:
    assert answer.status_code == 201, answer.text
    note: str = (await client.get(answer.headers["Location"])).json()["object"]["id"]
    return note


async def test_6_1__local_users_named_only_in_to_or_bcc_are_notified(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice", "carol", "dave"])
    alice, carol, dave = [await client_for(a, name) for name in ("alice", "carol", "dave")]
    to_carol = await _note_of(alice, await alice.post({"type": "Note", "content": "no at-sign", "to": [carol.actor]}))
    bcc_dave = await _note_of(alice, await alice.post({"type": "Note", "content": "quietly", "bcc": [dave.actor]}))
    assert to_carol in await _mentions(a, carol)
    assert to_carol in await _inbox_objects(carol)
    assert bcc_dave in await _mentions(a, dave)
    page = (await dave.get(f"{dave.actor}/inbox?page=1")).json()
    assert bcc_dave in [item["object"]["id"] for item in page["orderedItems"]]
    assert all("bcc" not in item for item in page["orderedItems"])
    # the twins: each sees only the post addressed to them, and the author is not notified of their own post
    assert bcc_dave not in await _mentions(a, carol)
    assert bcc_dave not in await _inbox_objects(carol)
    assert to_carol not in await _inbox_objects(dave)
    assert await _mentions(a, alice) == []


async def test_7_1__a_remote_post_naming_a_local_user_only_in_to_notifies_them(
    instances: Any, client_for: ClientFor, wait: Any
) -> None:
    a = await instances("a", ["alice", "carol"])
    b = await instances("b", ["bob"])
    alice, carol, bob = await client_for(a, "alice"), await client_for(a, "carol"), await client_for(b, "bob")
    note = await _note_of(bob, await bob.post({"type": "Note", "content": "hello from b", "to": [alice.actor]}))

    async def notified() -> bool:
        return note in await _mentions(a, alice)

    await wait(notified)
    assert note in await _inbox_objects(alice)
    assert note not in await _mentions(a, carol)
    assert note not in await _inbox_objects(carol)
