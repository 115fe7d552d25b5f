"""``endpoints.proxyUrl`` (ActivityPub §4.1): a signed fetch on the user's behalf, through the outbound guard."""

from __future__ import annotations

from typing import Any

from tests.c2s.conftest import PUBLIC, ClientFor, problem_text


async def test_4_1__proxy_url_fetches_a_remote_object_for_the_user(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice, bob = await client_for(a, "alice"), await client_for(b, "bob")
    created = await bob.post({"type": "Note", "content": "fetch me", "to": [PUBLIC]})
    note = (await bob.get(created.headers["Location"])).json()["object"]["id"]
    proxy = (await alice.actor_doc())["endpoints"]["proxyUrl"]
    answer = await alice.http.post(proxy, data={"id": note}, headers=alice.auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == note
    assert "fetch me" in answer.json()["content"]
    assert (await alice.http.post(proxy, data={"id": note})).status_code == 401
    assert (await alice.http.post(proxy, data={"id": "file:///etc/passwd"}, headers=alice.auth)).status_code == 400
    assert (await alice.http.post(proxy, data={}, headers=alice.auth)).status_code == 400
    missing = await alice.http.post(proxy, data={"id": f"{b.base}/notes/nothing"}, headers=alice.auth)
    assert missing.status_code == 502


async def test_4_1__proxy_url_refuses_private_addresses(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"], federation={"allow_private_addresses": False})
    alice = await client_for(a, "alice")
    proxy = (await alice.actor_doc())["endpoints"]["proxyUrl"]
    answer = await alice.http.post(proxy, data={"id": "http://127.0.0.1:9/secret"}, headers=alice.auth)
    assert answer.status_code == 400
    assert "id" in problem_text(answer)
