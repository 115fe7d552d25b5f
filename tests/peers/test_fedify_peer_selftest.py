"""Self-test of the Fedify peer: two peers on loopback follow each other and exchange a note."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# `mypy` over the whole tree names this directory's modules tests.peers.*, so there the bare name does
# not resolve (checked as Any); `mypy tests/peers/*.py` resolves and checks it.
import fedify_peer  # type: ignore[import-not-found, unused-ignore]
from fedify_peer import FIRST_KNOCKS, FedifyPeer, start_all  # type: ignore[import-not-found, unused-ignore]

OTHER = {FIRST_KNOCKS[0]: FIRST_KNOCKS[1], FIRST_KNOCKS[1]: FIRST_KNOCKS[0]}


@pytest.fixture(scope="module")
def installed() -> None:
    if fedify_peer.node_path() is None:
        pytest.skip("node is not on PATH: the Fedify peer cannot run")
    fedify_peer.ensure_installed()


@pytest.fixture(params=FIRST_KNOCKS)
def first_knock(request: pytest.FixtureRequest) -> str:
    knock: str = request.param
    return knock


@pytest.fixture
def pair(installed: None, first_knock: str) -> Iterator[tuple[FedifyPeer, FedifyPeer]]:
    a, b = FedifyPeer(first_knock=first_knock), FedifyPeer(first_knock=first_knock)
    start_all(a, b)
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_follow_accept_and_note(pair: tuple[FedifyPeer, FedifyPeer], first_knock: str) -> None:
    a, b = pair
    assert a.actor_url == f"{a.base_url}/users/bob"
    assert a.base_url.startswith("http://127.0.0.1:")

    follow_id = a.follow(b.actor_url)
    follow = b.wait_for(lambda x: x["type"] == "Follow" and x["id"] == follow_id)
    assert follow["actor"] == a.actor_url
    assert follow["object_id"] == b.actor_url
    assert follow["verified"] is True
    assert follow["http_signature"]["verified"] is True
    assert follow["http_signature"]["scheme"] == first_knock
    assert follow["http_signature"]["key_id"] == f"{a.actor_url}#main-key"

    accept = a.wait_for(lambda x: x["type"] == "Accept")
    assert accept["actor"] == b.actor_url
    assert accept["object_id"] == follow_id
    assert accept["http_signature"]["verified"] is True
    assert b.state()["followers"] == [a.actor_url]
    assert a.state()["following"][b.actor_url]["accepted"] is True

    image = {"url": f"{a.base_url}/m/1.png", "mediaType": "image/png", "name": "alt", "width": 3, "height": 2}
    created = a.create([b.actor_url], "<p>hi from A</p>", public=True, attachments=[image])
    create = b.wait_for(lambda x: x["type"] == "Create" and x["id"] == created["create_id"])
    assert create["object_id"] == created["note_id"]
    assert create["object_type"] == "Note"
    assert create["content"] == "<p>hi from A</p>"
    assert create["attributed_to"] == a.actor_url
    assert "https://www.w3.org/ns/activitystreams#Public" in create["to"]
    assert create["attachments"] == [{"type": "Image", "blurhash": None, **image}]
    note = httpx.get(created["note_id"], headers={"accept": "application/activity+json"}, trust_env=False)
    assert note.status_code == 200
    assert note.json()["content"] == "<p>hi from A</p>"

    reply = b.create([a.actor_url], "<p>reply</p>", public=False, in_reply_to=created["note_id"])
    got = a.wait_for(lambda x: x["id"] == reply["create_id"])
    assert got["in_reply_to"] == created["note_id"]
    assert got["to"] == [a.actor_url]

    # The first knock succeeded, so every signed request from A used the chosen scheme.
    signing = a.signing()
    assert signing["first_knock"] == first_knock
    posts = [r for r in signing["outgoing"] if r["method"] == "POST"]
    assert posts
    assert {r["scheme"] for r in posts} == {first_knock}
    assert signing["remembered"][b.base_url] == first_knock

    a.unfollow(b.actor_url)
    b.wait_for(lambda x: x["type"] == "Undo" and x["object_id"] == follow_id)
    assert b.state()["followers"] == []


def test_double_knock_falls_back(installed: None, first_knock: str) -> None:
    """A receiver that accepts only the other scheme answers 401; Fedify retries with it."""
    a = FedifyPeer(first_knock=first_knock)
    b = FedifyPeer(first_knock=first_knock, accept_scheme=OTHER[first_knock])
    start_all(a, b)
    try:
        follow_id = a.follow(b.actor_url)
        follow = b.wait_for(lambda x: x["id"] == follow_id)
        assert follow["http_signature"]["scheme"] == OTHER[first_knock]
        signing = a.signing()
        posts = [(r["scheme"], r["status"]) for r in signing["outgoing"] if r["method"] == "POST"]
        assert posts == [(first_knock, 401), (OTHER[first_knock], 202)]
        assert signing["remembered"][b.base_url] == OTHER[first_knock]
    finally:
        a.stop()
        b.stop()


def test_unsigned_post_is_refused(installed: None) -> None:
    with FedifyPeer() as peer:
        body = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": "http://127.0.0.1:1/like/1",
            "type": "Like",
            "actor": "http://127.0.0.1:1/users/mallory",
            "object": peer.actor_url,
        }
        r = httpx.post(
            f"{peer.base_url}/users/bob/inbox",
            json=body,
            headers={"content-type": "application/activity+json"},
            trust_env=False,
        )
        assert r.status_code == 401
        assert peer.inbox() == []


def test_followers_fanout_update_delete_like_announce_undo(pair: tuple[FedifyPeer, FedifyPeer]) -> None:
    a, b = pair
    b.follow(a.actor_url)  # b follows a, so a's followers-addressed posts reach b's shared inbox
    b.wait_for(lambda x: x["type"] == "Accept")

    created = a.create([], "<p>to followers</p>", public=True, followers=True)
    create = b.wait_for(lambda x: x["type"] == "Create")
    assert create["id"] == created["create_id"]
    assert create["inbox"] == "/inbox"
    assert create["content"] == "<p>to followers</p>"

    a.update(created["note_id"], "<p>edited</p>")
    update = b.wait_for(lambda x: x["type"] == "Update")
    assert update["object_id"] == created["note_id"]
    assert update["content"] == "<p>edited</p>"

    like_id = b.like(created["note_id"], a.actor_url)
    announce_id = b.announce(created["note_id"], a.actor_url)
    like = a.wait_for(lambda x: x["type"] == "Like")
    announce = a.wait_for(lambda x: x["type"] == "Announce")
    assert (like["id"], like["object_id"]) == (like_id, created["note_id"])
    assert (announce["id"], announce["object_id"]) == (announce_id, created["note_id"])
    b.undo(like_id, [a.actor_url])
    undo = a.wait_for(lambda x: x["type"] == "Undo")
    note_id = created["note_id"]
    assert undo["inner"] == {"type": "Like", "id": like_id, "actor": b.actor_url, "object": note_id}

    a.delete(created["note_id"])
    delete = b.wait_for(lambda x: x["type"] == "Delete")
    assert delete["object_id"] == created["note_id"]
    assert delete["object_type"] == "Tombstone"
    gone = httpx.get(created["note_id"], headers={"accept": "application/activity+json"}, trust_env=False)
    assert gone.status_code == 410


async def test_async_api(installed: None) -> None:
    """The coroutine twins, for tests whose server under test shares the event loop."""
    async with FedifyPeer() as a, FedifyPeer(first_knock=FIRST_KNOCKS[1]) as b:
        follow_id = await a.afollow(b.actor_url)
        accept = await a.await_for(lambda x: x["type"] == "Accept")
        assert accept["object_id"] == follow_id
        created = await a.acreate([b.actor_url], "<p>async</p>", public=False)
        create = await b.await_for(lambda x: x["id"] == created["create_id"])
        assert create["content"] == "<p>async</p>"
        assert create["to"] == [b.actor_url]
        assert create["tags"] == [
            {"type": "Mention", "name": f"@bob@{b.base_url.removeprefix('http://')}", "href": b.actor_url}
        ]
        assert (await b.astate())["followers"] == [a.actor_url]
        assert [x["type"] for x in await b.ainbox()] == ["Follow", "Create"]
        with pytest.raises(TimeoutError):
            await b.await_for(lambda x: x["type"] == "Like", timeout=0.2)
        with pytest.raises(fedify_peer.FedifyPeerError) as excinfo:
            await a.afollow("http://127.0.0.1:1/users/nobody")
        assert excinfo.value.status == 502
