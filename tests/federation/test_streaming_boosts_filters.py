"""Boosts on the streaming API, and mutes, blocks and silencing applied to it as the REST timelines apply
them (MD:/methods/streaming/#events; Mastodon's ``FanOutOnWriteService`` and ``FeedManager`` filters).

Events reach a client in the order they were recorded, so "the first frame is the visible post" shows the
hidden one recorded before it was left out: without the filter, the hidden one would come first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from mastodon import Mastodon
from sqlalchemy import select

from fediserver.domain import moderation, posts, reactions
from fediserver.federation import following
from fediserver.models import Follow, StreamEventRow
from tests.federation.conftest import Instance
from tests.federation.test_mastodon_streaming import Collect, user_token
from tests.federation.test_streaming_sources import frame, frames, listen, silent

Factory = Callable[..., Awaitable[Instance]]
Wait = Callable[..., Awaitable[Any]]


async def follows(server: Instance, follower: str, *followed: str) -> None:
    async with server.sessions() as session:
        for name in followed:
            session.add(
                Follow(
                    activity_uri=server.actor_url(follower) + f"#follows/{name}",
                    follower_uri=server.actor_url(follower),
                    followed_uri=server.actor_url(name),
                    state="accepted",
                )
            )
        await session.commit()


def client(server: Instance, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base, headers={"Authorization": f"Bearer {token}"})


async def post(http: httpx.AsyncClient, text: str, **extra: str) -> dict[str, Any]:
    answer = await http.post("/api/v1/statuses", data={"status": text, **extra})
    assert answer.status_code == 200, answer.text
    status: dict[str, Any] = answer.json()
    return status


async def act(http: httpx.AsyncClient, path: str, **data: str) -> dict[str, Any]:
    answer = await http.post(path, data=data)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def account_id(http: httpx.AsyncClient, name: str) -> str:
    answer = await http.get("/api/v1/accounts/lookup", params={"acct": name})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


def payload(got: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(got["payload"])
    return data


async def test_local_boost__mastodon_py_user_stream_gets_reblog_then_delete_public_gets_nothing(
    instances: Factory,
) -> None:
    server = await instances("a", ["alice", "bob", "carol", "dave"])
    alice, bob, carol, dave = [await user_token(server, n) for n in ("alice", "bob", "carol", "dave")]
    await follows(server, "carol", "bob")
    listener = Collect()
    api = Mastodon(access_token=carol, api_base_url=server.base)
    handle = await asyncio.to_thread(api.stream_user, listener, run_async=True, reconnect_async=False)
    stranger = await listen(server, dave, "user", "public")
    try:
        await asyncio.sleep(0.5)
        async with client(server, alice) as as_alice, client(server, bob) as as_bob:
            original = await post(as_alice, "boost me")
            assert payload(await frame(stranger))["id"] == original["id"]
            boost = await act(as_bob, f"/api/v1/statuses/{original['id']}/reblog")
            assert await asyncio.to_thread(listener.got.wait, 10)
            listener.got.clear()
            async with client(server, carol) as as_carol:
                home = (await as_carol.get("/api/v1/timelines/home")).json()
            await act(as_bob, f"/api/v1/statuses/{original['id']}/unreblog")
            assert await asyncio.to_thread(listener.got.wait, 10)
        # Public streams carry no boosts (Mastodon returns before them for a reblog), nor does the user
        # stream of someone who does not follow the booster.
        assert await silent(stranger)
    finally:
        await asyncio.to_thread(handle.close)
        await stranger.close()
    (streamed,) = listener.updates
    # The boost's own id, as the REST home timeline shows the same entry (Mastodon.py makes ids numbers).
    assert [s["id"] for s in home] == [str(streamed["id"])] == [boost["id"]]
    # The answer to the reblog is the boost itself (MD:/methods/statuses/#boost), under the same id.
    assert (boost["account"]["acct"], boost["reblog"]["id"]) == ("bob", original["id"])
    assert boost["reblog"]["reblogged"] is True
    assert str(streamed["id"]) != original["id"]
    assert streamed["account"]["acct"] == "bob"
    assert str(streamed["reblog"]["id"]) == original["id"]
    assert streamed["reblog"]["account"]["acct"] == "alice"
    assert [str(i) for i in listener.deletes] == [str(streamed["id"])]


async def test_inbound_announce_and_undo__reach_followers_user_stream_only(instances: Factory, wait: Wait) -> None:
    a = await instances("a", ["alice", "dave"])
    b = await instances("b", ["bob", "carol"])
    alice, dave = await user_token(a, "alice"), await user_token(a, "dave")
    async with a.sessions() as session:
        await following.follow(a.fed, session, await a.user(session, "alice"), b.actor_url("bob"))
        await session.commit()
    a.wake()

    async def accepted() -> bool:
        async with a.sessions() as session:
            state = await session.scalar(select(Follow.state).where(Follow.followed_uri == b.actor_url("bob")))
            return state == "accepted"

    await wait(accepted)
    mine = await listen(a, alice, "user")
    other = await listen(a, dave, "user", "public")
    try:
        async with b.sessions() as session:
            note = await posts.publish_post(
                b.app.state.services, session, await b.user(session, "carol"), posts.PostDraft(text="carol's")
            )
            await session.commit()
        async with b.sessions() as session:
            await reactions.boost(b.app.state.services, session, await b.user(session, "bob"), note.uri)
            await session.commit()
        b.wake()
        got = await frame(mine, 30)
        assert (got["event"], got["stream"]) == ("update", ["user"])
        status = payload(got)
        assert status["account"]["acct"].startswith("bob@")
        assert status["reblog"]["uri"] == note.uri
        assert status["reblog"]["account"]["acct"].startswith("carol@")
        async with b.sessions() as session:
            await reactions.unboost(b.app.state.services, session, await b.user(session, "bob"), note.uri)
            await session.commit()
        b.wake()
        assert await frame(mine, 30) == {"stream": ["user"], "event": "delete", "payload": status["id"]}
        assert await silent(other, 1.0)
    finally:
        await mine.close()
        await other.close()


async def test_mutes__hide_posts_boosts_and_notifications_as_the_timelines_do(instances: Factory) -> None:
    names = ("alice", "bob", "carol", "dave", "erin")
    server = await instances("a", list(names))
    tokens = {n: await user_token(server, n) for n in names}
    await follows(server, "alice", "bob", "carol", "dave")
    async with client(server, tokens["alice"]) as me:
        await act(me, f"/api/v1/accounts/{await account_id(me, 'bob')}/mute")
        await act(me, f"/api/v1/accounts/{await account_id(me, 'dave')}/mute", notifications="false")
    home = await listen(server, tokens["alice"], "user")
    public = await listen(server, tokens["alice"], "public")
    bell = await listen(server, tokens["alice"], "user:notification")
    http = {n: client(server, t) for n, t in tokens.items()}
    try:
        muted_post = await post(http["bob"], "from a muted account")
        shown = await post(http["carol"], "from a followed account")
        assert payload(await frame(home))["id"] == shown["id"]
        assert payload(await frame(public))["id"] == shown["id"]

        outsider = await post(http["erin"], "from someone alice does not follow")
        assert payload(await frame(public))["id"] == outsider["id"]
        await act(http["carol"], f"/api/v1/statuses/{muted_post['id']}/reblog")  # of a muted author
        await act(http["bob"], f"/api/v1/statuses/{shown['id']}/reblog")  # by a muted booster
        await act(http["carol"], f"/api/v1/statuses/{outsider['id']}/reblog")
        got = payload(await frame(home))
        assert (got["account"]["acct"], got["reblog"]["id"]) == ("carol", outsider["id"])

        mine = await post(http["alice"], "favourite me")
        await act(http["bob"], f"/api/v1/statuses/{mine['id']}/favourite")  # muted with notifications
        await act(http["dave"], f"/api/v1/statuses/{mine['id']}/favourite")  # muted, notifications kept
        note = payload(await frame(bell))
        assert (note["type"], note["account"]["acct"]) == ("favourite", "dave")
        assert await silent(bell, 1.0)
    finally:
        for socket in (home, public, bell):
            await socket.close()
        for each in http.values():
            await each.aclose()


async def test_blocks_either_way__hide_posts_on_public_streams(instances: Factory) -> None:
    server = await instances("a", ["alice", "bob", "carol", "dave"])
    tokens = {n: await user_token(server, n) for n in ("alice", "bob", "carol", "dave")}
    http = {n: client(server, t) for n, t in tokens.items()}
    try:
        await act(http["alice"], f"/api/v1/accounts/{await account_id(http['alice'], 'bob')}/block")
        await act(http["carol"], f"/api/v1/accounts/{await account_id(http['carol'], 'alice')}/block")
        public = await listen(server, tokens["alice"], "public")
        try:
            await post(http["bob"], "by someone alice blocks")
            await post(http["carol"], "by someone who blocks alice")
            shown = await post(http["dave"], "by anyone else")
            assert payload(await frame(public))["id"] == shown["id"]
            assert await silent(public, 1.0)
        finally:
            await public.close()
    finally:
        for each in http.values():
            await each.aclose()


async def test_silenced_account__off_public_and_hashtag_streams_still_on_followers(instances: Factory) -> None:
    server = await instances("a", ["alice", "bob", "carol"])
    tokens = {n: await user_token(server, n) for n in ("alice", "bob", "carol")}
    await follows(server, "alice", "bob")
    async with server.sessions() as session:
        await moderation.silence(session, await moderation.user_named(session, "bob"))
        await session.commit()
    public = await listen(server, tokens["alice"], "public", "hashtag#art")
    home = await listen(server, tokens["alice"], "user")
    http = {n: client(server, t) for n, t in tokens.items()}
    try:
        silenced = await post(http["bob"], "silenced #art")
        shown = await post(http["carol"], "listed #art")
        each = await frames(public, 2)
        assert set(each) == {"public", "hashtag#art"}
        assert {payload(f)["id"] for f in each.values()} == {shown["id"]}
        # Silencing limits reach, not following (Mastodon's ``FanOutOnWriteService``): followers still get it.
        assert payload(await frame(home))["id"] == silenced["id"]
        async with server.sessions() as session:
            rows = list(await session.scalars(select(StreamEventRow).where(StreamEventRow.event == "update")))
        keys = {tuple(r.keys) for r in rows if r.keys and "user:2" in r.keys}
        assert keys == {("user:2", "user:1")}
    finally:
        await public.close()
        await home.close()
        for each_client in http.values():
            await each_client.aclose()


async def test_deleted_post__its_boost_is_deleted_from_the_boosters_followers_streams(instances: Factory) -> None:
    server = await instances("a", ["alice", "bob", "carol"])
    alice, bob, carol = [await user_token(server, n) for n in ("alice", "bob", "carol")]
    await follows(server, "carol", "bob")
    home = await listen(server, carol, "user")
    try:
        async with client(server, alice) as as_alice, client(server, bob) as as_bob:
            original = await post(as_alice, "boosted, then deleted")
            boost = await act(as_bob, f"/api/v1/statuses/{original['id']}/reblog")
            assert payload(await frame(home))["id"] == boost["id"]
            assert (await as_alice.delete(f"/api/v1/statuses/{original['id']}")).status_code == 200
        # carol does not follow alice: only the boost she was shown is withdrawn, by its own id.
        assert await frame(home) == {"stream": ["user"], "event": "delete", "payload": boost["id"]}
        assert await silent(home, 1.0)
    finally:
        await home.close()
