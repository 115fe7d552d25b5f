"""Interop with an independent implementation: a Fedify 2.3.6 peer (npm) on loopback.

The peer follows one of our users, receives a post with an image and verifies our HTTP signature, and
sends us a Create that we verify, once with each of Fedify's first knocks (RFC 9421, draft-cavage).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from fediserver.domain.posts import PostDraft, publish_post
from fediserver.media import MediaLimits, ingest_upload
from fediserver.models import Follow, Note

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))
import fedify_peer  # type: ignore[import-not-found, unused-ignore]
from fedify_peer import FIRST_KNOCKS, FedifyPeer  # type: ignore[import-not-found, unused-ignore]

Factory = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="module")
def installed() -> None:
    if fedify_peer.node_path() is None:
        pytest.skip("node is not on PATH: the Fedify peer cannot run")
    fedify_peer.ensure_installed()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("first_knock", FIRST_KNOCKS)
async def test_fedify__follows_receives_our_post_and_sends_one(
    installed: None, instances: Factory, wait: Callable[..., Awaitable[Any]], first_knock: str
) -> None:
    a = await instances("a", ["alice"])
    alice = a.actor_url("alice")
    async with FedifyPeer(first_knock=first_knock) as peer:
        # Fedify follows alice: our inbox verifies its signature, we accept, Fedify verifies our Accept.
        await peer.afollow(alice)

        async def followed() -> bool:
            async with a.sessions() as session:
                state: str | None = await session.scalar(
                    select(Follow.state).where(Follow.follower_uri == peer.actor_url, Follow.followed_uri == alice)
                )
            return state == "accepted"

        await wait(followed)
        accept = await peer.await_for(lambda act: act["type"] == "Accept")
        assert accept["actor"] == alice
        assert accept["verified_by"] == "http-signature"

        # alice posts an image; it reaches Fedify signed by us and verified there.
        async with a.sessions() as session:
            me = await a.user(session, "alice")
            image = ingest_upload(a.app.state.media, _png(), MediaLimits.from_settings(a.settings.media))
            draft = PostDraft(text="A green square", image=image, alt="green")
            note = await publish_post(a.app.state.services, session, me, draft)
            await session.commit()
            note_uri = note.uri
        a.wake()
        create = await peer.await_for(lambda act: act["type"] == "Create")
        assert create["object_id"] == note_uri
        assert create["verified_by"] == "http-signature"
        assert "A green square" in create["content"]
        [attachment] = create["attachments"]
        assert attachment["mediaType"] == "image/png"
        assert attachment["name"] == "green"
        assert (attachment["width"], attachment["height"]) == (40, 30)

        # Fedify sends alice a note: we verify it (with the scheme Fedify knocks with first) and store it.
        sent = await peer.acreate([alice], "<p>hello from <b>Fedify</b></p>")

        async def stored() -> Note | None:
            async with a.sessions() as session:
                found: Note | None = await session.scalar(select(Note).where(Note.uri == sent["note_id"]))
                return found

        remote = await wait(stored)
        assert remote.attributed_to == peer.actor_url
        assert "Fedify" in remote.content
        # Every POST Fedify made to our inboxes was accepted on its first knock, in the scheme it chose.
        signing = await peer.asigning()
        posts = [r for r in signing["outgoing"] if r["method"] == "POST" and r["url"].startswith(a.base)]
        assert posts, signing
        assert {(r["scheme"], r["status"]) for r in posts} == {(first_knock, 202)}


async def test_fedify__our_double_knock_reaches_a_rfc9421_only_server(installed: None, instances: Factory) -> None:
    # We knock with draft-cavage first (as Mastodon 4.7 does); this peer answers 401 to it, so the
    # Accept must arrive on the second knock, signed with RFC 9421.
    a = await instances("a", ["alice"])
    async with FedifyPeer(accept_scheme="rfc9421") as peer:
        await peer.afollow(a.actor_url("alice"))
        a.wake()
        accept = await peer.await_for(lambda act: act["type"] == "Accept")
        assert accept["signature_scheme"] == "rfc9421"
        assert accept["verified_by"] == "http-signature"
