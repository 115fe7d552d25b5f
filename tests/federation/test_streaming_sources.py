"""Streaming events come from the domain, whatever made the change: the Mastodon API, another process (the
CLI, as the GPU worker is), the domain called directly, inbound federation, and notifications; private posts
reach only those who may see them (MD:/methods/streaming/#events)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import select

from fediserver.domain import posts
from fediserver.imagegen import jobs
from fediserver.models import Follow, GenerationJob, Note, StreamEventRow
from tests.federation.conftest import SECRET, Instance
from tests.federation.test_mastodon_streaming import user_token

Factory = Callable[..., Awaitable[Instance]]
Wait = Callable[..., Awaitable[Any]]
Socket = websockets.ClientConnection


async def listen(server: Instance | str, token: str, *streams: str) -> Socket:
    """A WebSocket client subscribed to ``streams`` (``hashtag#tag`` for a tag) on a server or base URL."""
    base = server if isinstance(server, str) else server.base
    ws = await websockets.connect(base.replace("http://", "ws://") + f"/api/v1/streaming?access_token={token}")
    for stream in streams:
        name, _, tag = stream.partition("#")
        await ws.send(json.dumps({"type": "subscribe", "stream": name, **({"tag": tag} if tag else {})}))
    # Subscriptions are applied in order with the frames; a ping round trip means they are in place.
    await (await ws.ping())
    return ws


async def frame(ws: Socket, within: float = 15.0) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), within))
    return data


async def frames(ws: Socket, count: int, within: float = 15.0) -> dict[str, dict[str, Any]]:
    """The next ``count`` frames by their stream (joined with ``#``)."""
    out = {}
    for _ in range(count):
        got = await frame(ws, within)
        out["#".join(got["stream"])] = got
    assert len(out) == count, out
    return out


async def silent(ws: Socket, within: float = 2.0) -> bool:
    try:
        got = await asyncio.wait_for(ws.recv(), within)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {got!r}")


def write_config(server: Instance, path: Path) -> Path:
    settings = server.settings
    path.write_text(
        "[instance]\n"
        f'domain = "{settings.instance.domain}"\nscheme = "http"\nsecret_key = "{SECRET}"\n'
        f'[database]\nurl = "{settings.database_url}"\n'
        f'[media]\ndirectory = "{settings.media_dir}"\n'
        "[federation]\nallow_private_addresses = true\n"
    )
    return path


async def test_cli_api_domain_and_notifications__all_reach_the_stream(instances: Factory, tmp_path: Path) -> None:
    server = await instances("a", ["alice", "bob"])
    alice = await user_token(server, "alice")
    bob = await user_token(server, "bob")
    ws = await listen(server, alice, "user", "public:local", "hashtag#cats")
    notes_only = await listen(server, alice, "user:notification")
    try:
        # Another process: the CLI writes through the domain; this web process relays the outbox row.
        config = write_config(server, tmp_path / "cli.toml")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fediserver",
            "--config",
            str(config),
            "post",
            "alice",
            "--text",
            "from the command line #cats",
            env={**os.environ, "FEDISERVER_CONFIG": str(config)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()
        each = await frames(ws, 3, 30)
        assert set(each) == {"user", "public:local", "hashtag#cats"}
        got = each["user"]
        assert got["event"] == "update"
        assert {f["payload"] for f in each.values()} == {got["payload"]}
        status = json.loads(got["payload"])
        assert "from the command line" in status["content"]
        assert status["account"]["acct"] == "alice"

        # The domain called directly (as the web UI and C2S do): edit, then delete.
        async with server.sessions() as session:
            note = await session.scalar(select(Note).where(Note.id.is_not(None)).order_by(Note.id.desc()))
            assert note is not None
            me = await server.user(session, "alice")
            await posts.edit_post(server.app.state.services, session, me, note.uri, posts.PostEdit(text="edited"))
            await session.commit()
        edited = (await frames(ws, 2))["user"]  # "edited" has no hashtag: user and public:local
        assert edited["event"] == "status.update"
        assert json.loads(edited["payload"])["id"] == status["id"]
        assert "edited" in json.loads(edited["payload"])["content"]

        # A favourite through the API notifies alice on user and user:notification.
        async with httpx.AsyncClient(base_url=server.base, headers={"Authorization": f"Bearer {bob}"}) as http:
            answer = await http.post(f"/api/v1/statuses/{status['id']}/favourite")
            assert answer.status_code == 200, answer.text
        for socket, label in ((ws, ["user"]), (notes_only, ["user:notification"])):
            note_frame = await frame(socket)
            assert note_frame["event"] == "notification"
            assert note_frame["stream"] == label
            payload = json.loads(note_frame["payload"])
            assert payload["type"] == "favourite"
            assert payload["account"]["acct"] == "bob"
            assert payload["status"]["id"] == status["id"]
            assert isinstance(payload["id"], str)

        async with server.sessions() as session:
            me = await server.user(session, "alice")
            await posts.delete_post(server.app.state.services, session, me, note.uri)
            await session.commit()
        deleted = (await frames(ws, 2))["user"]
        assert deleted == {"stream": ["user"], "event": "delete", "payload": status["id"]}
        assert await silent(notes_only, 1.0)
    finally:
        await ws.close()
        await notes_only.close()


async def test_followers_only_post__reaches_followers_user_stream_never_others_or_public(instances: Factory) -> None:
    server = await instances("a", ["alice", "bob", "carol"])
    alice, bob, carol = [await user_token(server, n) for n in ("alice", "bob", "carol")]
    async with server.sessions() as session:
        session.add(
            Follow(
                activity_uri=server.actor_url("carol") + "#follows/1",
                follower_uri=server.actor_url("carol"),
                followed_uri=server.actor_url("alice"),
                state="accepted",
            )
        )
        await session.commit()
    stranger = await listen(server, bob, "user", "public", "public:local", "hashtag#secret", "direct")
    follower = await listen(server, carol, "user", "public")
    try:
        async with httpx.AsyncClient(base_url=server.base, headers={"Authorization": f"Bearer {alice}"}) as http:
            private = await http.post(
                "/api/v1/statuses", data={"status": "for followers #secret", "visibility": "private"}
            )
            assert private.status_code == 200, private.text
            got = await frame(follower)
            assert got["stream"] == ["user"]
            assert json.loads(got["payload"])["id"] == private.json()["id"]
            assert json.loads(got["payload"])["visibility"] == "private"
            assert await silent(stranger)
            # The twin: the same stranger does get a public post, on the public stream.
            public = await http.post("/api/v1/statuses", data={"status": "for all #secret"})
            seen = await frame(stranger)
            assert seen["stream"] in (["public"], ["public:local"], ["hashtag", "secret"])
            assert json.loads(seen["payload"])["id"] == public.json()["id"]
        async with server.sessions() as session:
            rows = list(await session.scalars(select(StreamEventRow).order_by(StreamEventRow.id)))
        keys = [set(r.keys) for r in rows if r.event == "update"]
        assert keys[0] == {"user:1", "user:3"}  # alice and carol, nothing public
    finally:
        await stranger.close()
        await follower.close()


async def test_inbound_posts_of_followed_accounts__reach_followers_and_public_remote(
    instances: Factory, wait: Wait
) -> None:
    a = await instances("a", ["alice", "dave"])
    b = await instances("b", ["bob"])
    alice = await user_token(a, "alice")
    dave = await user_token(a, "dave")
    async with a.sessions() as session:
        from fediserver.federation import following

        await following.follow(a.fed, session, await a.user(session, "alice"), b.actor_url("bob"))
        await session.commit()
    a.wake()

    async def accepted() -> bool:
        async with a.sessions() as session:
            return (
                await session.scalar(select(Follow.state).where(Follow.followed_uri == b.actor_url("bob")))
                == "accepted"
            )

    await wait(accepted)
    mine = await listen(a, alice, "user")
    remote = await listen(a, dave, "public:remote", "user")
    try:
        async with b.sessions() as session:
            bob = await b.user(session, "bob")
            note = await posts.publish_post(b.app.state.services, session, bob, posts.PostDraft(text="hello from b"))
            hidden = await posts.publish_post(
                b.app.state.services, session, bob, posts.PostDraft(text="followers of bob", visibility="followers")
            )
            await session.commit()
        b.wake()
        # The two deliveries may arrive in either order.
        got = [await frame(mine, 30), await frame(mine, 30)]
        assert {(f["event"], tuple(f["stream"])) for f in got} == {("update", ("user",))}
        by_uri = {json.loads(f["payload"])["uri"]: json.loads(f["payload"]) for f in got}
        assert set(by_uri) == {note.uri, hidden.uri}
        status = by_uri[note.uri]
        assert status["account"]["acct"].startswith("bob@")
        assert by_uri[hidden.uri]["visibility"] == "private"
        public = await frame(remote, 30)
        assert public["stream"] == ["public:remote"]
        assert json.loads(public["payload"])["uri"] == note.uri
        assert await silent(remote)  # dave follows nobody: bob's followers-only post never reaches him

        async with b.sessions() as session:
            bob = await b.user(session, "bob")
            await posts.edit_post(b.app.state.services, session, bob, note.uri, posts.PostEdit(text="hello, edited"))
            await session.commit()
        b.wake()
        edited = await frame(mine, 30)
        assert edited["event"] == "status.update"
        assert "edited" in json.loads(edited["payload"])["content"]
        async with b.sessions() as session:
            bob = await b.user(session, "bob")
            await posts.delete_post(b.app.state.services, session, bob, note.uri)
            await session.commit()
        b.wake()
        assert await frame(mine, 30) == {"stream": ["user"], "event": "delete", "payload": status["id"]}
    finally:
        await mine.close()
        await remote.close()


async def test_gpu_worker_process__generated_post_reaches_the_stream(instances: Factory, tmp_path: Path) -> None:
    """The GPU worker is a process of its own: its post reaches the web process's clients by the outbox."""
    server = await instances("a", ["alice"])
    token = await user_token(server, "alice")
    config = write_config(server, tmp_path / "gpu.toml")
    with config.open("a") as handle:
        handle.write('[generation]\nmodel = "emulated:0"\nwidth = 64\nheight = 64\nc2pa = false\n')
    ws = await listen(server, token, "user")
    async with server.sessions() as session:
        alice = await server.user(session, "alice")
        request = jobs.build_request(server.settings, "a fox", model="emulated:0", width=64, height=64, seed=3)
        await jobs.enqueue(session, alice, request, post_text="a fox, generated", visibility="public", quota=None)
        await session.commit()
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fediserver", "--config", str(config), "gpu-worker",
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        try:
            got = await frame(ws, 90)
        except TimeoutError:
            if worker.returncode is None:
                worker.terminate()
            _, err = await worker.communicate()
            async with server.sessions() as session:
                states = [(j.state, j.progress_step) for j in await session.scalars(select(GenerationJob))]
            raise AssertionError(f"no event; jobs {states}; worker said {err.decode()[-2000:]}") from None
        status = json.loads(got["payload"])
        assert got["event"] == "update"
        assert "a fox, generated" in status["content"]
        assert [m["type"] for m in status["media_attachments"]] == ["image"]
    finally:
        if worker.returncode is None:
            worker.terminate()
            await worker.wait()
        await ws.close()
