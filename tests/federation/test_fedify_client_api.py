"""Issue 10's end-to-end test with the Fedify peer (an independent implementation) and Mastodon.py as the app:
search the peer's account with ``resolve=true`` (WebFinger), follow it (the peer accepts), post, receive the
``update`` event on the streaming API, and get a ``notification`` event and its row when the peer likes the
post; the peer's own post to its followers reaches the follower's ``user`` stream."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mastodon import Mastodon, StreamListener
from sqlalchemy import select

from fediserver.models import Follow, Notification
from tests.federation.conftest import Instance
from tests.federation.test_mastodon_streaming import user_token

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))
import fedify_peer  # type: ignore[import-not-found, unused-ignore]
from fedify_peer import FedifyPeer  # type: ignore[import-not-found, unused-ignore]

Factory = Callable[..., Awaitable[Instance]]
Wait = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="module")
def installed() -> None:
    if fedify_peer.node_path() is None:
        pytest.skip("node is not on PATH: the Fedify peer cannot run")
    fedify_peer.ensure_installed()


class Events(StreamListener):  # type: ignore[misc, unused-ignore]
    """What Mastodon.py's SSE client hands the app, kept for the test to wait on."""

    def __init__(self) -> None:
        self.updates: list[Any] = []
        self.notifications: list[Any] = []
        self.changed = threading.Condition()

    def on_update(self, status: Any) -> None:
        with self.changed:
            self.updates.append(status)
            self.changed.notify_all()

    def on_notification(self, notification: Any) -> None:
        with self.changed:
            self.notifications.append(notification)
            self.changed.notify_all()

    def wait(self, check: Callable[[], Any], within: float = 30.0) -> Any:
        with self.changed:
            assert self.changed.wait_for(check, within), (self.updates, self.notifications)
            return check()


async def test_fedify__search_follow_post_stream_and_like_notification(
    installed: None, instances: Factory, wait: Wait
) -> None:
    a = await instances("a", ["alice"])
    token = await user_token(a, "alice", "read write follow")
    api = Mastodon(access_token=token, api_base_url=a.base)
    events = Events()
    async with FedifyPeer() as peer:
        handle = f"bob@127.0.0.1:{peer.port}"
        found = await asyncio.to_thread(api.search_v2, handle, resolve=True)
        assert len(found["accounts"]) == 1
        assert found["accounts"][0]["acct"].startswith("bob@127.0.0.1")
        account = found["accounts"][0]
        await asyncio.to_thread(api.account_follow, account["id"])
        a.wake()
        await peer.await_for(lambda act: act["type"] == "Follow")

        async def accepted() -> bool:
            async with a.sessions() as session:
                state = await session.scalar(select(Follow.state).where(Follow.followed_uri == peer.actor_url))
            return state == "accepted"

        await wait(accepted)

        handle_stream = await asyncio.to_thread(api.stream_user, events, run_async=True, reconnect_async=False)
        try:
            await asyncio.sleep(0.5)
            posted = await asyncio.to_thread(api.status_post, "hello, fediverse")
            streamed = await asyncio.to_thread(
                events.wait, lambda: [s for s in events.updates if s["id"] == posted["id"]]
            )
            assert streamed[0]["content"] == posted["content"]

            # The peer likes the post: a favourite notification, streamed and stored.
            await peer.alike(posted["uri"], a.actor_url("alice"))
            liked = await asyncio.to_thread(
                events.wait, lambda: [n for n in events.notifications if n["type"] == "favourite"]
            )
            assert liked[0]["account"]["id"] == account["id"]
            assert str(liked[0]["status"]["id"]) == str(posted["id"])
            async with a.sessions() as session:
                rows = list(await session.scalars(select(Notification).where(Notification.type == "favourite")))
            assert [(r.from_actor_uri, r.note_uri, str(r.id)) for r in rows] == [
                (peer.actor_url, posted["uri"], str(liked[0]["id"]))
            ]

            # The peer posts to its followers: alice follows it, so her user stream gets the remote post.
            sent = await peer.acreate([], "<p>news for my followers</p>", followers=True)
            remote = await asyncio.to_thread(
                events.wait, lambda: [s for s in events.updates if s["uri"] == sent["note_id"]]
            )
            assert "news for my followers" in remote[0]["content"]
            assert remote[0]["account"]["id"] == account["id"]
        finally:
            await asyncio.to_thread(handle_stream.close)
