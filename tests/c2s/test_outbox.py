"""ActivityPub §6, §6.1–6.4 over real loopback HTTP: a client POSTs to its outbox and reads back what the
server made. Test names carry the section they check (w3.org/TR/activitypub/#client-to-server-interactions).
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image
from sqlalchemy import select

from fediserver.models import DeliveryJob, InboundActivity, Note
from tests.c2s.conftest import PUBLIC, ClientFor
from tests.federation.conftest import Instance


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), "teal").save(out, "PNG")
    return out.getvalue()


async def _created(client: Any, body: Any) -> dict[str, Any]:
    answer = await client.post(body)
    assert answer.status_code == 201, answer.text
    got = await client.get(answer.headers["Location"])
    assert got.status_code == 200, got.text
    doc: dict[str, Any] = got.json()
    return doc


async def test_6__post_answers_201_with_location_of_the_new_activity(instances: Any, client_for: ClientFor) -> None:
    a: Instance = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    answer = await alice.post({"type": "Create", "object": {"type": "Note", "content": "<p>hello</p>", "to": [PUBLIC]}})
    assert answer.status_code == 201
    location = answer.headers["Location"]
    assert location.startswith(a.base + "/notes/")
    create = (await alice.get(location)).json()
    assert create["id"] == location
    assert create["type"] == "Create"
    assert create["actor"] == alice.actor
    assert create["object"]["attributedTo"] == alice.actor  # §6.2 SHOULD: actor copied to attributedTo
    assert "hello" in create["object"]["content"]


async def test_6__server_ignores_client_ids_and_assigns_its_own(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    # activitypub-testing 30018b5d sends a bare UUID as id; it must not be refused.
    body = {
        "id": "0b7e8d0c-5e0a-4b7a-9d55-2f8f4d6b3c21",
        "type": "Create",
        "object": {"id": "https://elsewhere.example/notes/1", "type": "Note", "content": "mine", "to": PUBLIC},
    }
    create = await _created(alice, body)
    assert create["id"] != body["id"]
    assert create["object"]["id"].startswith(a.base + "/notes/")
    async with a.sessions() as session:
        assert await session.scalar(select(Note).where(Note.uri == "https://elsewhere.example/notes/1")) is None


async def test_6__added_to_the_outbox_collection(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    create = await _created(alice, {"type": "Note", "content": "in the outbox", "to": [PUBLIC]})
    page = (await alice.get(f"{alice.actor}/outbox?page=1")).json()
    assert create["id"] in [item["id"] for item in page["orderedItems"]]


async def test_6_1__actor_and_attributed_to_default_to_the_token_user(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    create = await _created(alice, {"type": "Create", "object": {"type": "Note", "content": "x", "to": PUBLIC}})
    assert create["actor"] == alice.actor
    assert create["object"]["attributedTo"] == alice.actor


async def test_6_2__create_note_with_an_uploaded_image_is_delivered_to_a_follower(
    instances: Any, client_for: ClientFor, wait: Any
) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice, bob = await client_for(a, "alice"), await client_for(b, "bob")
    # bob follows alice through his outbox; alice's server accepts.
    assert (await bob.post({"type": "Follow", "object": alice.actor})).status_code == 201

    async def followed() -> bool:
        return bool((await alice.get(f"{alice.actor}/followers")).json()["totalItems"])

    await wait(followed)
    upload = await alice.http.post(
        f"{a.base}/api/v2/media",
        headers=alice.auth,
        files={"file": ("p.png", png(), "image/png")},
        data={"description": "a teal square"},
    )
    assert upload.status_code == 200, upload.text
    image_url = upload.json()["url"]
    note = {
        "type": "Note",
        "content": "<p>an image</p>",
        "to": [PUBLIC],
        "cc": [f"{alice.actor}/followers"],
        "attachment": [{"type": "Image", "url": image_url, "name": "teal, square"}],
    }
    create = await _created(alice, {"type": "Create", "to": [PUBLIC], "object": note})
    uri = create["object"]["id"]
    assert create["object"]["attachment"][0]["name"] == "teal, square"

    async def arrived() -> Note | None:
        async with b.sessions() as session:
            found: Note | None = await session.scalar(select(Note).where(Note.uri == uri))
            return found

    remote = await wait(arrived)
    assert remote.visibility == "public"
    async with b.sessions() as session:
        stored = await session.get(Note, remote.id, populate_existing=True)
        assert stored is not None
        await session.refresh(stored, ["attachments"])
        assert [m.description for m in stored.attachments] == ["teal, square"]


async def test_6_2_1__bare_object_is_wrapped_in_a_create_with_its_audience(
    instances: Any, client_for: ClientFor
) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    followers = f"{alice.actor}/followers"
    create = await _created(alice, {"type": "Note", "content": "bare", "to": ["as:Public"], "cc": [followers]})
    assert create["type"] == "Create"
    assert create["object"]["id"] != create["id"]
    assert PUBLIC in create["to"]
    assert PUBLIC in create["object"]["to"]
    assert followers in create["cc"]
    assert followers in create["object"]["cc"]


async def test_6_2__audience_decides_visibility(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    followers = f"{alice.actor}/followers"
    cases = [
        ({"to": [PUBLIC]}, "public"),
        ({"to": [followers], "cc": ["Public"]}, "unlisted"),
        ({"to": [followers]}, "followers"),
        ({}, "direct"),  # no audience: kept private, as §6 recommends
    ]
    for audience, expected in cases:
        answer = await alice.post({"type": "Note", "content": expected, **audience})
        assert answer.status_code == 201, answer.text
        key = answer.headers["Location"].rsplit("/", 2)[-2]
        async with a.sessions() as session:
            visibility = await session.scalar(select(Note.visibility).where(Note.uri == f"{a.base}/notes/{key}"))
        assert visibility == expected, audience


async def test_6__bto_and_bcc_are_delivered_to_but_removed(instances: Any, client_for: ClientFor, wait: Any) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice = await client_for(a, "alice")
    bob_uri = b.actor_url("bob")
    create = await _created(alice, {"type": "Note", "content": "psst", "to": [PUBLIC], "bcc": [bob_uri]})
    assert "bcc" not in create
    assert "bcc" not in create["object"]
    assert bob_uri not in str(create)

    async def arrived() -> InboundActivity | None:
        async with b.sessions() as session:
            found: InboundActivity | None = await session.scalar(
                select(InboundActivity).where(InboundActivity.activity_id == create["id"])
            )
            return found

    received = await wait(arrived)  # bob's server got it, though bob is named nowhere in it
    assert "bcc" not in received.body
    assert "bcc" not in received.body["object"]
    assert bob_uri not in str(received.body)
    async with a.sessions() as session:
        bodies = list(await session.scalars(select(DeliveryJob.body)))
    assert bodies
    assert all('"bcc"' not in body and '"bto"' not in body and bob_uri not in body for body in bodies)


async def test_6_3__update_is_partial_and_applied(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    create = await _created(alice, {"type": "Note", "content": "v0", "summary": "cw", "to": [PUBLIC]})
    note_id = create["object"]["id"]
    answer = await alice.post({"type": "Update", "object": {"id": note_id, "content": "v1"}})
    assert answer.status_code == 201, answer.text
    note = (await alice.get(note_id)).json()
    assert "v1" in note["content"]
    assert note["summary"] == "cw"  # a key not sent is kept
    answer = await alice.post({"type": "Update", "object": {"id": note_id, "summary": None}})
    assert answer.status_code == 201, answer.text
    note = (await alice.get(note_id)).json()
    assert not note.get("summary")  # null removes it
    assert "v1" in note["content"]


async def test_6_4__delete_leaves_a_tombstone(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    create = await _created(alice, {"type": "Note", "content": "soon gone", "to": [PUBLIC]})
    note_id = create["object"]["id"]
    answer = await alice.post({"type": "Delete", "object": note_id})
    assert answer.status_code == 201, answer.text
    gone = await alice.get(note_id)
    assert gone.status_code == 410
    assert gone.json()["type"] == "Tombstone"


async def test_5_1__the_owner_reads_private_items_in_the_outbox_anonymous_readers_do_not(
    instances: Any, client_for: ClientFor
) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    public = await _created(alice, {"type": "Note", "content": "for all", "to": [PUBLIC]})
    private = await _created(alice, {"type": "Note", "content": "for followers", "to": [f"{alice.actor}/followers"]})
    mine = (await alice.get(f"{alice.actor}/outbox?page=1")).json()
    assert {item["id"] for item in mine["orderedItems"]} == {public["id"], private["id"]}
    anonymous = await alice.http.get(f"{alice.actor}/outbox?page=1", headers={"Accept": "application/activity+json"})
    assert [item["id"] for item in anonymous.json()["orderedItems"]] == [public["id"]]


async def test_4_1__actor_names_the_oauth_endpoints(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    endpoints = (await alice.actor_doc())["endpoints"]
    assert endpoints["oauthAuthorizationEndpoint"] == f"{a.base}/oauth/authorize"
    assert endpoints["oauthTokenEndpoint"] == f"{a.base}/oauth/token"
    assert endpoints["sharedInbox"] == f"{a.base}/inbox"
    page = await alice.http.get(endpoints["oauthAuthorizationEndpoint"])
    assert page.status_code < 500
