"""Posts with the Fedify peer (an independent implementation) on loopback: its mention and like of
alice's post become notifications, alice's mention reaches it without a follow (with a Mention tag,
checklist 14), and its Update of a note keeps the earlier version here."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fediserver.domain import notifications, posts
from fediserver.models import Note, NoteEdit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))
import fedify_peer  # type: ignore[import-not-found, unused-ignore]
from fedify_peer import FedifyPeer  # type: ignore[import-not-found, unused-ignore]

Factory = Callable[..., Awaitable[Any]]
Wait = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="module")
def installed() -> None:
    if fedify_peer.node_path() is None:
        pytest.skip("node is not on PATH: the Fedify peer cannot run")
    fedify_peer.ensure_installed()


async def test_fedify__mentions_likes_and_edits(installed: None, instances: Factory, wait: Wait) -> None:
    a = await instances("a", ["alice"])
    alice = a.actor_url("alice")
    async with FedifyPeer() as peer:
        async with a.sessions() as session:
            me = await a.user(session, "alice")
            post = await posts.publish_post(a.app.state.services, session, me, posts.PostDraft(text="hello #art"))
            await session.commit()

        # The peer mentions alice and favourites her post: two notifications.
        sent = await peer.acreate([alice], "<p>hi @alice</p>")
        await peer.alike(post.uri, alice)

        async def notified() -> list[tuple[str, str, str | None]] | None:
            async with a.sessions() as session:
                me = await a.user(session, "alice")
                rows = await notifications.list_notifications(session, me, notifications.NotificationQuery())
            found = sorted((n.type, n.from_actor_uri, n.note_uri) for n in rows)
            return found if len(found) == 2 else None

        assert await wait(notified) == [
            ("favourite", peer.actor_url, post.uri),
            ("mention", peer.actor_url, sent["note_id"]),
        ]

        # alice mentions the peer's bob by handle (WebFinger over http): it arrives though bob does not follow.
        handle = f"bob@127.0.0.1:{peer.port}"
        async with a.sessions() as session:
            me = await a.user(session, "alice")
            draft = posts.PostDraft(text=f"@{handle} hello back")
            mention = await posts.publish_post(a.app.state.services, session, me, draft)
            await session.commit()
        a.wake()
        create = await peer.await_for(lambda act: act["type"] == "Create" and act["object_id"] == mention.uri)
        assert {"type": "Mention", "name": f"@{handle}", "href": peer.actor_url} in create["tags"]
        assert peer.actor_url in create["object_cc"]
        assert 'class="u-url mention">@<span>bob</span></a>' in create["content"]

        # The peer edits its note: we store the new text and keep the old one.
        await peer.aupdate(sent["note_id"], "<p>hi @alice, edited</p>")

        async def history() -> list[NoteEdit] | None:
            async with a.sessions() as session:
                note = await session.scalar(select(Note).where(Note.uri == sent["note_id"]))
                if note is None or "edited" not in note.content:
                    return None
                return await posts.history(session, note)

        [old] = await wait(history)
        assert "edited" not in old.content
        assert "hi" in old.content
