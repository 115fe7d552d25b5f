"""Use cases that fetch from another server hold no database connection during the fetch (issue 8:
"Outbound fetches never hold a database connection"; its finding: slow remote answers made an unrelated
GET wait for a pooled connection).

Instance a's outbound HTTP goes through ``Watching``, which counts the connections that the task making
the request (the use case) has checked out of a's pools (the app's and the test's own) at the moment each
request to b starts, while the remote call is in progress. Other tasks' connections are not counted: the
stream relay, woken by each commit, reads briefly in a task of its own. Every use case must find b by
WebFinger or fetch from it at least once, with none held.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.pool import Pool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import activitypub as ap
from fediserver.app import build_http_client
from fediserver.domain import accounts, link_checks, reactions, relations
from fediserver.domain.posts import PostDraft, publish_post
from fediserver.domain.services import Services
from fediserver.federation import connections
from fediserver.models import Follow, Like, Note, RemoteActor, User
from fediserver.oauth import grants
from fediserver.oauth.grants import OOB
from fediserver.oauth.scopes import Scopes
from tests.federation.conftest import Instance, steadily_held

Factory = Callable[..., Awaitable[Instance]]


class Watching(httpx.AsyncBaseTransport):
    """Forwards every request; for those to ``host``, records how many connections of ``pools`` the
    requesting task holds when it starts."""

    def __init__(self, inner: httpx.AsyncBaseTransport, host: str, pools: list[Pool]) -> None:
        self.inner, self.host = inner, host
        self.held: list[tuple[str, int]] = []
        self.owners: dict[int, asyncio.Task[Any] | None] = {}
        for pool in pools:
            event.listen(pool, "checkout", self._checkout)
            event.listen(pool, "checkin", self._checkin)

    def _checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        self.owners[id(record)] = asyncio.current_task()

    def _checkin(self, dbapi_connection: Any, record: Any) -> None:
        self.owners.pop(id(record), None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.netloc.decode() == self.host:
            mine = sum(1 for task in self.owners.values() if task is asyncio.current_task())
            self.held.append((str(request.url), mine))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def pair(instances: Factory) -> AsyncIterator[tuple[Instance, Instance, Watching]]:
    a = await instances("a", ["alice"], worker={"poll_interval": 3600})
    b = await instances("b", ["bob", "carol"], worker={"poll_interval": 3600})
    pools = [a.app.state.engine.sync_engine.pool, a.engine.sync_engine.pool]
    watching = Watching(ap.PinnedTransport(allow_private=True), b.settings.instance.domain, pools)
    old = a.fed.http
    a.fed.http = build_http_client(a.settings, watching)
    yield a, b, watching
    await a.fed.http.aclose()
    a.fed.http = old


def svc(instance: Instance) -> Services:
    services: Services = instance.app.state.services
    return services


async def token(instance: Instance, username: str) -> str:
    async with instance.sessions() as session:
        actor = await instance.user(session, username)
        user = await session.scalar(select(User).where(User.actor_id == actor.id))
        assert user is not None
        scopes = Scopes.parse("read write follow")
        app, _ = await grants.register_app(session, "test", [OOB], scopes, None)
        issued = await grants.issue_token(session, app, user, scopes)
        await session.commit()
        return issued.access_token


async def post_by(instance: Instance, username: str, text: str) -> str:
    async with instance.sessions() as session:
        note = await publish_post(svc(instance), session, await instance.user(session, username), PostDraft(text=text))
        await session.commit()
        return note.uri


def assert_none_held(watching: Watching, *wanted: str) -> None:
    urls = [url for url, _ in watching.held]
    for part in wanted:
        assert any(part in url for url in urls), f"no request to b for {part!r}: {urls}"
    held = [(url, n) for url, n in watching.held if n]
    assert not held, f"database connections held while b was asked: {held}"


async def test_search_resolve__finds_an_account_and_a_post_with_no_connection_held(
    pair: tuple[Instance, Instance, Watching],
) -> None:
    a, b, watching = pair
    note_uri = await post_by(b, "carol", "findable")
    auth = {"Authorization": f"Bearer {await token(a, 'alice')}"}
    async with httpx.AsyncClient(base_url=a.base, headers=auth, timeout=30) as http:
        accounts = await http.get(
            "/api/v2/search", params={"q": f"@bob@{b.settings.instance.domain}", "resolve": "true"}
        )
        statuses = await http.get("/api/v2/search", params={"q": note_uri, "resolve": "true"})
    assert [x["url"] for x in accounts.json()["accounts"]] == [b.fed.urls.profile("bob")]
    assert [x["uri"] for x in statuses.json()["statuses"]] == [note_uri]
    assert_none_held(watching, "/.well-known/webfinger", b.actor_url("bob"), note_uri, b.actor_url("carol"))


async def test_follow_by_handle__holds_no_connection_while_b_answers(pair: tuple[Instance, Instance, Watching]) -> None:
    a, b, watching = pair
    async with a.sessions() as session:
        await relations.follow(svc(a), session, await a.user(session, "alice"), f"bob@{b.settings.instance.domain}")
        await session.commit()
    async with a.sessions() as session:
        assert await session.scalar(select(Follow.followed_uri)) == b.actor_url("bob")
    assert_none_held(watching, "/.well-known/webfinger", b.actor_url("bob"))


async def test_reply_to_a_remote_post__holds_no_connection_while_b_answers(
    pair: tuple[Instance, Instance, Watching],
) -> None:
    a, b, watching = pair
    parent = await post_by(b, "bob", "reply to me")
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        reply = await publish_post(svc(a), session, me, PostDraft(text="a reply", in_reply_to=parent))
        await session.commit()
    assert reply.in_reply_to_uri == parent
    assert b.actor_url("bob") in reply.cc
    assert_none_held(watching, parent, b.actor_url("bob"))


async def test_like_of_a_remote_post__holds_no_connection_while_b_answers(
    pair: tuple[Instance, Instance, Watching],
) -> None:
    a, b, watching = pair
    liked = await post_by(b, "bob", "like me")
    async with a.sessions() as session:
        await reactions.like(svc(a), session, await a.user(session, "alice"), liked)
        await session.commit()
    async with a.sessions() as session:
        assert await session.scalar(select(Like.note_uri)) == liked
    assert_none_held(watching, liked, b.actor_url("bob"))


async def test_post_mentioning_remote_handles__holds_no_connection_while_b_answers(
    pair: tuple[Instance, Instance, Watching],
) -> None:
    a, b, watching = pair
    domain = b.settings.instance.domain
    auth = {"Authorization": f"Bearer {await token(a, 'alice')}"}
    async with httpx.AsyncClient(base_url=a.base, headers=auth, timeout=30) as http:
        made = await http.post("/api/v1/statuses", data={"status": f"hi @bob@{domain} and @carol@{domain}"})
    assert made.status_code == 200, made.text
    for name in ("bob", "carol"):
        assert f'href="{b.fed.urls.profile(name)}" class="u-url mention"' in made.json()["content"]
    assert_none_held(watching, "/.well-known/webfinger", b.actor_url("bob"), b.actor_url("carol"))


async def test_a_transaction_that_has_written_keeps_its_connection(pair: tuple[Instance, Instance, Watching]) -> None:
    # The twin of the above: release never commits a use case's own writes early; its fetch then holds the
    # connection (and the watcher sees it), and a rollback still undoes everything.
    a, b, watching = pair
    parent = await post_by(b, "bob", "after a write")
    async with a.sessions() as session:
        session.add(
            Note(uri=f"{a.base}/uncommitted", attributed_to=a.actor_url("alice"), content="", visibility="public")
        )
        await session.flush()
        assert connections.has_written(session)
        assert not await connections.release(session)
        await reactions.like(svc(a), session, await a.user(session, "alice"), parent)
        await session.rollback()
    async with a.sessions() as session:
        assert await session.scalar(select(Note.id).where(Note.uri == f"{a.base}/uncommitted")) is None
        assert await session.scalar(select(RemoteActor.id).where(RemoteActor.uri == b.actor_url("bob"))) is None
    assert watching.held
    assert all(n >= 1 for _, n in watching.held), watching.held


async def test_searches_waiting_on_a_slow_webfinger_host_leave_the_pool_free(
    instances: Factory, serve_app: Callable[[Starlette], Awaitable[str]]
) -> None:
    # The issue's finding, for search: 20 lookups whose host answers late, then an unrelated GET. The
    # pool has 15 connections at most (5 + 10 overflow): were each lookup to hold one, the 20 could never
    # all reach the host, and the GET would wait for the pool.
    waiting = 20
    arrived = asyncio.Event()
    release = asyncio.Event()
    seen: list[str] = []

    async def webfinger(request: Request) -> Response:
        seen.append(request.query_params["resource"])
        if len(seen) == waiting:
            arrived.set()
        await release.wait()
        return Response(status_code=404)

    slow = await serve_app(Starlette(routes=[Route("/.well-known/webfinger", webfinger)]))
    # The stream relay polls rarely, so that any connection out during the wait is a lookup's.
    a = await instances("a", ["alice"], worker={"poll_interval": 3600}, api={"streaming_poll_interval": 3600})
    pool = a.app.state.engine.sync_engine.pool
    auth = {"Authorization": f"Bearer {await token(a, 'alice')}"}
    host = slow.removeprefix("http://")
    async with httpx.AsyncClient(base_url=a.base, headers=auth, timeout=60) as http:
        searches = [
            asyncio.create_task(http.get("/api/v2/search", params={"q": f"@u{n}@{host}", "resolve": "true"}))
            for n in range(waiting)
        ]
        try:
            await asyncio.wait_for(arrived.wait(), 60)
            held = await steadily_held(pool)
            profile = await http.get("/users/alice", headers={"Accept": ap.ACTIVITY_JSON})
        finally:
            release.set()
        answers = await asyncio.gather(*searches)
    assert held == 0, f"{held} connections held while {waiting} searches wait for WebFinger"
    assert profile.status_code == 200
    assert [r.status_code for r in answers] == [200] * waiting
    assert all(r.json()["accounts"] == [] for r in answers)


@pytest.mark.parametrize("idempotency_key", [None, "k-1"])
async def test_c2s_create_to_a_remote_actor__holds_no_connection_while_b_answers(
    pair: tuple[Instance, Instance, Watching], idempotency_key: str | None
) -> None:
    """With an ``Idempotency-Key`` too: the key is written after the activity is made, so nothing has been
    written while the recipient is fetched (``c2s.idempotency``)."""
    a, b, watching = pair
    bob = b.actor_url("bob")
    headers = {
        "Authorization": f"Bearer {await token(a, 'alice')}",
        "Content-Type": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
    }
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    note = {"type": "Note", "content": "hello bob", "to": [bob]}
    async with httpx.AsyncClient(timeout=30) as http:
        actor = (await http.get(a.actor_url("alice"), headers={"Accept": ap.ACTIVITY_JSON})).json()
        made = await http.post(actor["outbox"], json={"@context": ap.AS_CONTEXT, **note}, headers=headers)
    assert made.status_code == 201, made.text
    assert_none_held(watching, bob)


async def test_aliases_and_move__hold_no_connection_while_b_answers(pair: tuple[Instance, Instance, Watching]) -> None:
    # Both fetch the other account afresh (its alsoKnownAs), before anything is written.
    a, b, watching = pair
    async with b.sessions() as session:
        await accounts.set_aliases(svc(b), session, await b.user(session, "bob"), [a.actor_url("alice")])
        await session.commit()
    async with a.sessions() as session:
        alice = await a.user(session, "alice")
        await accounts.set_aliases(svc(a), session, alice, [b.actor_url("bob")])
        await session.commit()
        await accounts.move(svc(a), session, alice, b.actor_url("bob"))
        await session.commit()
        assert alice.moved_to == b.actor_url("bob")
    assert len(watching.held) >= 2
    assert_none_held(watching, b.actor_url("bob"))


async def test_rel_me_checks__hold_no_connection_while_the_pages_answer(
    pair: tuple[Instance, Instance, Watching],
) -> None:
    a, b, watching = pair
    page = b.fed.urls.profile("bob")
    async with a.sessions() as session:
        alice = await a.user(session, "alice")
        alice.fields = [{"name": "Friend", "value": page}]
        await session.commit()
        alice = await a.user(session, "alice")  # as the worker's job and the CLI have: a read open
        assert await link_checks.verify_links(svc(a), session, alice) == []  # bob's page does not link back
        await session.commit()
    assert_none_held(watching, page)
