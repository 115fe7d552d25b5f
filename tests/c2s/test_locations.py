"""Every ``Location`` the outbox and ``uploadMedia`` answer resolves (ActivityPub §6: "the new id in Location"):
the owner's token reads it; others read it only when the activity is public, else 404."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
from PIL import Image

from tests.c2s.conftest import PUBLIC, Client, ClientFor


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), "navy").save(out, "PNG")
    return out.getvalue()


async def _location(client: Client, body: dict[str, Any]) -> str:
    answer = await client.post(body)
    assert answer.status_code == 201, answer.text
    location: str = answer.headers["Location"]
    return location


async def test_6__every_location_is_fetchable_by_its_owner(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice", "carol"])
    alice, carol = await client_for(a, "alice"), await client_for(a, "carol")
    anonymous = await client_for(a, "alice", token=None)
    create = await _location(carol, {"type": "Note", "content": "carol's", "to": [PUBLIC]})
    note = (await carol.get(create)).json()["object"]["id"]

    like = await _location(alice, {"type": "Like", "object": note})
    doc = (await alice.get(like)).json()
    assert (doc["id"], doc["type"], doc["actor"], doc["object"]) == (like, "Like", alice.actor, note)
    assert (await carol.get(like)).status_code == 404  # a Like is not public
    assert (await anonymous.get(like)).status_code == 404

    boost = await _location(alice, {"type": "Announce", "object": note})
    assert (await alice.get(boost)).json()["type"] == "Announce"
    assert (await anonymous.get(boost)).json()["id"] == boost  # public: anyone reads it

    b = await instances("b", ["bob"])
    bob = b.actor_url("bob")
    block = await _location(alice, {"type": "Block", "object": bob})
    assert (await alice.get(block)).json()["object"] == bob
    assert (await carol.get(block)).status_code == 404
    undo_block = await _location(alice, {"type": "Undo", "object": block})
    assert undo_block == f"{block}/undo"
    undo_doc = (await alice.get(undo_block)).json()
    assert (undo_doc["type"], undo_doc["id"]) == ("Undo", undo_block)
    assert (await alice.get(block)).status_code == 404  # undone: gone
    assert (await carol.get(undo_block)).status_code == 404

    undo_like = await _location(alice, {"type": "Undo", "object": like})
    assert (await alice.get(undo_like)).json()["type"] == "Undo"
    # the twin: a live activity has no Undo to show
    relike = await _location(alice, {"type": "Like", "object": note})
    assert relike == like
    assert (await alice.get(f"{like}/undo")).status_code == 404

    follow = await _location(alice, {"type": "Follow", "object": bob})
    assert (await alice.get(follow)).json()["type"] == "Follow"
    assert (await carol.get(follow)).status_code == 404

    mine = await _location(alice, {"type": "Note", "content": "pin me", "to": [PUBLIC]})
    mine_note = (await alice.get(mine)).json()["object"]["id"]
    update = await _location(alice, {"type": "Update", "object": {"id": mine_note, "content": "v2"}})
    assert "#" not in update
    assert update.startswith(f"{alice.actor}/activities/update/")
    doc = (await anonymous.get(update)).json()  # the post is public: so is its Update
    assert (doc["id"], doc["type"], doc["actor"]) == (update, "Update", alice.actor)
    assert "v2" in doc["object"]["content"]
    # a second edit is a second activity; the first still reads as it was sent
    update2 = await _location(alice, {"type": "Update", "object": {"id": mine_note, "content": "v3"}})
    assert update2 != update
    assert "v2" in (await alice.get(update)).json()["object"]["content"]
    assert (await alice.get(f"{update}/undo")).status_code == 404  # an Update has no Undo
    featured = f"{alice.actor}/collections/featured"
    add = await _location(alice, {"type": "Add", "object": mine_note, "target": featured})
    doc = (await anonymous.get(add)).json()
    assert (doc["id"], doc["type"], doc["object"], doc["target"]) == (add, "Add", mine_note, featured)
    remove = await _location(alice, {"type": "Remove", "object": mine_note, "target": featured})
    assert (await anonymous.get(remove)).json()["type"] == "Remove"
    assert (await alice.get(featured)).json()["orderedItems"] == []
    delete = await _location(alice, {"type": "Delete", "object": mine_note})
    doc = (await anonymous.get(delete)).json()
    assert (doc["id"], doc["type"], doc["object"]["id"]) == (delete, "Delete", mine_note)
    assert (await alice.get(mine_note)).status_code == 410  # the post itself is a Tombstone
    # its Updates carried the content the Delete withdrew: gone, to the owner too; the Add stays
    assert [(await c.get(update)).status_code for c in (alice, anonymous)] == [404, 404]
    assert (await anonymous.get(add)).status_code == 200


async def test_6__a_private_posts_update_and_delete_are_its_owners_only(instances: Any, client_for: ClientFor) -> None:
    """The twin: the same activities of a followers-only post are 404 to anyone but the owner's token."""
    a = await instances("a", ["alice", "carol"])
    alice, carol = await client_for(a, "alice"), await client_for(a, "carol")
    anonymous = await client_for(a, "alice", token=None)
    followers = f"{alice.actor}/followers"
    create = await _location(alice, {"type": "Note", "content": "friends only", "to": [followers]})
    note = (await alice.get(create)).json()["object"]["id"]
    update = await _location(alice, {"type": "Update", "object": {"id": note, "content": "still friends"}})
    assert (await alice.get(update)).json()["id"] == update
    assert (await carol.get(update)).status_code == 404
    assert (await anonymous.get(update)).status_code == 404
    delete = await _location(alice, {"type": "Delete", "object": note})
    assert (await alice.get(delete)).json()["type"] == "Delete"
    assert (await carol.get(delete)).status_code == 404
    assert (await anonymous.get(delete)).status_code == 404
    # someone else's made-up activity id of the same shape is as unknown as a private one
    assert (await alice.get(f"{carol.actor}/activities/update/1")).status_code == 404


async def test_6_10__undo_of_an_embedded_activity_without_id_answers_the_real_undo(
    instances: Any, client_for: ClientFor
) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    create = await _location(alice, {"type": "Note", "content": "like me", "to": [PUBLIC]})
    note = (await alice.get(create)).json()["object"]["id"]
    like = await _location(alice, {"type": "Like", "object": note})
    undo = await _location(alice, {"type": "Undo", "object": {"type": "Like", "id": "urn:x:made-up", "object": note}})
    assert undo == f"{like}/undo"
    assert (await alice.get(undo)).json()["object"] == like


async def test_upload_media__location_serves_the_image_as_as2(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice", "carol"])
    alice, carol = await client_for(a, "alice"), await client_for(a, "carol")
    endpoint = (await alice.actor_doc())["endpoints"]["uploadMedia"]
    upload = await alice.http.post(
        endpoint,
        headers=alice.auth,
        files={"file": ("n.png", _png(), "image/png")},
        data={"object": json.dumps({"type": "Image", "name": "navy"})},
    )
    assert upload.status_code == 201, upload.text
    location = upload.headers["Location"]
    image = (await alice.get(location)).json()
    assert (image["id"], image["type"], image["name"]) == (location, "Image", "navy")
    assert image["url"] != location
    # the file URL is never AS2 (a user's upload must not pass for an ActivityPub document)
    async with httpx.AsyncClient() as http:
        raw = await http.get(image["url"], headers={"Accept": "application/activity+json"})
    assert raw.headers["content-type"] == "image/png"
    assert (await carol.get(location)).status_code == 404  # not yet on a post
    # attached by its Location alone, on a public post: now anyone reads it
    created = await alice.post({"type": "Note", "content": "navy", "to": [PUBLIC], "attachment": [location]})
    assert created.status_code == 201, created.text
    assert (await carol.get(location)).json()["id"] == location
