"""A C2S client against an independent server: the outbox's activities reach a Fedify 2.3.6 peer on
loopback, which verifies our HTTP signatures (ActivityPub §6 "MUST federate"; issue 11's end-to-end test).

The client (plain httpx, a bearer token) uploads an image and posts a Note with it, follows the peer's
account (the peer accepts), likes a peer post and undoes the like, and reads its inbox.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.c2s.conftest import PUBLIC, ClientFor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))
import fedify_peer  # type: ignore[import-not-found, unused-ignore]
from fedify_peer import FedifyPeer  # type: ignore[import-not-found, unused-ignore]

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="module")
def installed() -> None:
    if fedify_peer.node_path() is None:
        pytest.skip("node is not on PATH: the Fedify peer cannot run")
    fedify_peer.ensure_installed()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 30)).save(out, "PNG")
    return out.getvalue()


async def test_6__c2s_client_federates_with_a_fedify_peer(
    installed: None, instances: Factory, client_for: ClientFor, wait: Callable[..., Awaitable[Any]]
) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    actor = await alice.actor_doc()
    async with FedifyPeer() as peer:
        # §6.5 Follow through the outbox; the peer verifies it and accepts; `following` lists it only then.
        follow = await alice.post({"type": "Follow", "object": peer.actor_url})
        assert follow.status_code == 201, follow.text
        a.wake()
        received = await peer.await_for(lambda act: act["type"] == "Follow")
        assert received["actor"] == alice.actor
        assert received["verified_by"] == "http-signature"
        assert received["id"] == follow.headers["Location"]

        async def following() -> bool:
            return peer.actor_url in (await alice.get(f"{actor['following']}?page=1")).json()["orderedItems"]

        await wait(following)

        # §6.2 Create{Note} with an image uploaded through endpoints.uploadMedia, addressed to the peer.
        upload = await alice.http.post(
            actor["endpoints"]["uploadMedia"],
            headers=alice.auth,
            files={"file": ("r.png", _png(), "image/png")},
            data={"object": json.dumps({"type": "Image", "name": "a red rectangle"})},
        )
        assert upload.status_code == 201, upload.text
        body = {"type": "Note", "content": "<p>Red, from a C2S client</p>", "to": [PUBLIC, peer.actor_url]}
        created = await alice.post({**body, "attachment": [upload.json()]})
        assert created.status_code == 201, created.text
        a.wake()
        create = await peer.await_for(lambda act: act["type"] == "Create" and act["actor"] == alice.actor)
        assert create["id"] == created.headers["Location"]
        assert create["verified_by"] == "http-signature"
        assert "Red, from a C2S client" in create["content"]
        [image] = create["attachments"]
        assert (image["mediaType"], image["name"], image["width"], image["height"]) == (
            "image/png",
            "a red rectangle",
            40,
            30,
        )

        # §6.8 Like a peer post, then §6.10 Undo it: the peer sees the Like, then the Undo of that Like.
        sent = await peer.acreate([alice.actor], "<p>a post from Fedify</p>")
        like = await alice.post({"type": "Like", "object": sent["note_id"]})
        assert like.status_code == 201, like.text
        a.wake()
        liked = await peer.await_for(lambda act: act["type"] == "Like")
        assert (liked["object_id"], liked["verified_by"]) == (sent["note_id"], "http-signature")
        undo = await alice.post({"type": "Undo", "object": like.headers["Location"]})
        assert undo.status_code == 201, undo.text
        a.wake()
        undone = await peer.await_for(lambda act: act["type"] == "Undo")
        assert undone["inner"]["type"] == "Like"
        assert undone["inner"]["id"] == liked["id"]

        # §5.2 the inbox: the peer's Accept and its Create addressed to alice are there.
        page = (await alice.get(f"{actor['inbox']}?page=1")).json()
        kinds = {(item["type"], item["actor"]) for item in page["orderedItems"]}
        assert ("Accept", peer.actor_url) in kinds
        assert sent["create_id"] in [item["id"] for item in page["orderedItems"]]
