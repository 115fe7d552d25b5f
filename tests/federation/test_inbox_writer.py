"""The inbox's request path: group commit on both databases (``routes.inbox.InboxWriter``) and the signers
remembered between requests (``federation.remote.KeyOwner``), over real loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

import activitypub as ap
from fediserver.db import make_engine, session_factory
from fediserver.federation import outbound
from fediserver.federation.remote import KEY_CACHE_STALE, actor_for_key, forget_actor
from fediserver.jobs import doorbell
from fediserver.jobs.handlers import build_handlers
from fediserver.jobs.worker import Worker
from fediserver.models import DeliveryJob, InboundActivity, RemoteActor
from fediserver.routes.inbox import Recipients
from tests.federation.conftest import eventually, signed_like
from tests.statements import recorded

Factory = Callable[..., Awaitable[Any]]


async def _senders(instances: Factory, database_url: str) -> tuple[Any, str, tuple[str, ap.PrivateKey]]:
    a = await instances("a", ["alice"], worker={"poll_interval": 3600}, database={"url": database_url})
    b = await instances("b", ["bob"])
    async with b.sessions() as session:
        bob = await b.user(session, "bob")
        key = (b.fed.urls.actor_key("bob"), ap.load_private_key(bob.private_key_pem))
    return a, b.actor_url("bob"), key


async def test_inbox__concurrent_requests_share_commits_and_a_repeat_is_stored_once(
    instances: Factory, database_url: str
) -> None:
    a, bob, key = await _senders(instances, database_url)
    url = a.fed.urls.shared_inbox()
    requests = [signed_like(url, bob, n, key) for n in range(30)]
    requests += requests[:5]  # the same activities again: accepted, not stored twice
    engine: AsyncEngine = a.app.state.engine
    with recorded(engine) as seen:
        async with httpx.AsyncClient(timeout=30) as http:
            answers = await asyncio.gather(*(http.post(url, content=b, headers=h) for b, h in requests))
    assert [r.status_code for r in answers] == [202] * len(requests), [r.text for r in answers]
    async with a.sessions() as session:
        ids = set(await session.scalars(select(InboundActivity.activity_id)))
        count = await session.scalar(select(func.count()).select_from(InboundActivity))
    assert ids == {f"{bob}#likes/{n}" for n in range(30)}
    assert count == 30
    inserts = [s for s in seen if s.startswith("INSERT INTO inbound_activities")]
    # Requests that arrive while a commit is in flight share the next one.
    assert 0 < len(inserts) < len(requests), inserts


async def test_inbox__the_signer_is_remembered_until_forgotten(instances: Factory, database_url: str) -> None:
    a, bob, key = await _senders(instances, database_url)
    url = a.fed.urls.shared_inbox()
    engine: AsyncEngine = a.app.state.engine

    async def post(n: int) -> list[str]:
        body, headers = signed_like(url, bob, n, key)
        with recorded(engine) as seen:
            async with httpx.AsyncClient(timeout=30) as http:
                assert (await http.post(url, content=body, headers=headers)).status_code == 202
        # The signer's look-up by key id (the worker, woken by the request, reads senders by uri).
        return [s for s in seen if "WHERE remote_actors.key_id" in s]

    await post(0)  # fetched and stored
    assert await post(1) == []  # remembered: no look-up
    forget_actor(a.fed, bob)
    assert len(await post(2)) == 1  # looked up again (stored, so not fetched)
    assert await post(3) == []


async def test_personal_inbox__concurrent_misses_look_the_recipient_up_once(
    instances: Factory, database_url: str
) -> None:
    a, _, _ = await _senders(instances, database_url)
    recipients = Recipients()
    engine: AsyncEngine = a.app.state.engine
    with recorded(engine) as seen:
        ids = await asyncio.gather(*(recipients.id_of(a.app.state.sessions, "alice") for _ in range(20)))
        assert await recipients.id_of(a.app.state.sessions, "nobody") is None
    lookups = [sql for sql in seen if sql.startswith("SELECT local_actors.id FROM local_actors WHERE")]
    assert len(lookups) == 2, lookups  # alice once for twenty requests, then the unknown name
    assert len(set(ids)) == 1
    assert ids[0] is not None
    assert not recipients.lookups.running("alice")


async def test_worker_process__is_woken_by_the_inbox_not_its_poll(instances: Factory, database_url: str) -> None:
    """``fediserver worker`` beside ``serve --no-worker``: an accepted activity is processed within a second,
    with a 30 s poll (the inbox rings the doorbell: NOTIFY on PostgreSQL, a datagram on SQLite)."""
    a = await instances("a", ["alice"], run_worker=False, database={"url": database_url})
    b = await instances("b", ["bob"])
    async with b.sessions() as session:
        bob_actor = await b.user(session, "bob")
        key = (b.fed.urls.actor_key("bob"), ap.load_private_key(bob_actor.private_key_pem))
    bob = b.actor_url("bob")
    async with _worker_process(a):
        url = a.fed.urls.shared_inbox()
        async with httpx.AsyncClient(timeout=30) as http:
            body, headers = signed_like(url, bob, 1, key)
            sent = time.monotonic()
            assert (await http.post(url, content=body, headers=headers)).status_code == 202

        async def done() -> bool:
            async with a.sessions() as session:
                state = await session.scalar(select(InboundActivity.state).where(InboundActivity.state == "done"))
            return state is not None

        await eventually(done, within=5.0)
        assert time.monotonic() - sent < 1.0


async def test_signer_and_blocklist__concurrent_misses_read_them_once(instances: Factory, database_url: str) -> None:
    """When a signer's cached key or the blocklist expires under load, the requests that find it expired
    share one read instead of each taking a pooled connection for it."""
    a, bob, key = await _senders(instances, database_url)
    url = a.fed.urls.shared_inbox()
    async with httpx.AsyncClient(timeout=30) as http:
        body, headers = signed_like(url, bob, 0, key)
        assert (await http.post(url, content=body, headers=headers)).status_code == 202  # bob is stored
    forget_actor(a.fed, bob)
    a.fed.blocklist.loaded_at = float("-inf")  # stale
    sessions = a.app.state.sessions
    engine: AsyncEngine = a.app.state.engine
    with recorded(engine) as seen:
        owners = await asyncio.gather(*(actor_for_key(a.fed, sessions, key[0]) for _ in range(20)))
        await asyncio.gather(*(a.fed.blocklist.refresh_if_stale(sessions) for _ in range(20)))
    assert {owner.uri for owner in owners} == {bob}
    assert sum("FROM remote_actors WHERE remote_actors.key_id" in sql for sql in seen) == 1, seen
    assert sum("FROM domain_blocks" in sql for sql in seen) == 1, seen
    assert not a.fed.blocklist.stale


async def test_worker_process__is_woken_by_a_queued_delivery(instances: Factory, database_url: str) -> None:
    """A delivery queued by the web process (``outbound.enqueue``, which every post, follow and reaction goes
    through) reaches a ``fediserver worker`` with a 30 s poll within a second."""
    a = await instances("a", ["alice"], run_worker=False, database={"url": database_url})
    b = await instances("b", ["bob"])
    async with _worker_process(a):
        note = {"id": f"{a.actor_url('alice')}/notes/x", "type": "Note", "content": "hi"}
        async with a.app.state.sessions() as session:
            alice = await a.user(session, "alice")
            create = {"@context": ap.AS_CONTEXT, "id": f"{note['id']}/activity", "type": "Create",
                      "actor": a.actor_url("alice"), "object": note}  # fmt: skip
            await outbound.enqueue(a.fed, session, create, alice, [b.fed.urls.shared_inbox()])
            await session.commit()
        sent = time.monotonic()

        async def attempted() -> bool:
            async with a.sessions() as session:
                tried = await session.scalar(select(DeliveryJob.attempts).where(DeliveryJob.attempts > 0))
            return tried is not None

        await eventually(attempted, within=5.0)
        assert time.monotonic() - sent < 1.0


@contextlib.asynccontextmanager
async def _worker_process(a: Any) -> AsyncIterator[None]:
    """A worker as ``fediserver worker`` runs it beside ``serve --no-worker``: an engine of its own, woken by
    the doorbell, with a 30 s poll; idle (its first pass done) when the block starts."""
    engine = make_engine(a.settings.database_url)
    bell = await doorbell.Doorbell.open(engine, [doorbell.INBOX, doorbell.FEDERATION])
    stop = asyncio.Event()
    worker = Worker(session_factory(engine), build_handlers(a.fed), poll_interval=30.0, woken_by=bell)
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.3)  # its first pass found nothing: it now waits for the bell or 30 s
        yield
    finally:
        stop.set()
        await running
        await bell.close()
        await engine.dispose()


async def test_signer__an_expired_key_serves_while_one_read_renews_it(instances: Factory, database_url: str) -> None:
    """Under load a burst's keys expire together: their requests go on with the remembered key while one
    statement renews every key of the moment (``KEY_CACHE_STALE``); past that window, or for an actor gone
    since, the key is looked up as if first seen."""
    a, bob, key = await _senders(instances, database_url)
    url = a.fed.urls.shared_inbox()
    async with httpx.AsyncClient(timeout=30) as http:
        body, headers = signed_like(url, bob, 0, key)
        assert (await http.post(url, content=body, headers=headers)).status_code == 202  # bob is stored
    sessions = a.app.state.sessions
    engine: AsyncEngine = a.app.state.engine
    owner = a.fed.key_cache[key[0]][1]

    def key_reads(seen: list[str]) -> list[str]:
        return [sql for sql in seen if "WHERE remote_actors.key_id" in sql]

    a.fed.key_cache[key[0]] = (time.monotonic() - 1, owner)  # expired a second ago
    with recorded(engine) as seen:
        # Awaited one after another, without yielding to the renewal in between: none of them waits for it.
        owners = [await actor_for_key(a.fed, sessions, key[0]) for _ in range(20)]
        assert key_reads(seen) == []
        assert a.fed.key_reader is not None
        await a.fed.key_reader
    assert {o.uri for o in owners} == {bob}
    [renewal] = key_reads(seen)
    assert "remote_actors.key_id IN (" in renewal
    assert a.fed.key_cache[key[0]][0] > time.monotonic()  # renewed

    a.fed.key_cache[key[0]] = (time.monotonic() - KEY_CACHE_STALE - 1, owner)  # past the window
    with recorded(engine) as seen:
        assert (await actor_for_key(a.fed, sessions, key[0])).uri == bob
        assert len(key_reads(seen)) == 1  # read before answering

    async with a.sessions() as session:
        await session.execute(delete(RemoteActor).where(RemoteActor.uri == bob))
        await session.commit()
    a.fed.key_cache[key[0]] = (time.monotonic() - 1, owner)
    await actor_for_key(a.fed, sessions, key[0])
    assert a.fed.key_reader is not None
    await a.fed.key_reader
    assert key[0] not in a.fed.key_cache  # gone: the next request fetches it afresh


async def test_signer__a_burst_of_keys_not_remembered_is_read_in_one_query(
    instances: Factory, database_url: str
) -> None:
    """A process meeting many stored signers at once (its start, a sibling web process) reads their rows
    together instead of opening a pooled connection per key."""
    a = await instances("a", ["alice"], worker={"poll_interval": 3600}, database={"url": database_url})
    senders = [f"https://peer{n}.example/users/u" for n in range(30)]
    async with a.sessions() as session:
        for uri in senders:
            session.add(
                RemoteActor(
                    uri=uri, domain=uri.split("/")[2], inbox=f"{uri}/inbox", key_id=f"{uri}#main-key",
                    public_key_pem=f"PEM of {uri}", raw={"id": uri},
                )
            )  # fmt: skip
        await session.commit()
    engine: AsyncEngine = a.app.state.engine
    with recorded(engine) as seen:
        sessions = a.app.state.sessions
        owners = await asyncio.gather(*(actor_for_key(a.fed, sessions, f"{uri}#main-key") for uri in senders))
    assert [(o.uri, o.public_key_pem) for o in owners] == [(uri, f"PEM of {uri}") for uri in senders]
    [read] = [sql for sql in seen if "WHERE remote_actors.key_id" in sql]
    assert "remote_actors.key_id IN (" in read
    assert all(f"{uri}#main-key" in a.fed.key_cache for uri in senders)


async def test_signer__a_failed_read_reaches_every_request_waiting_for_it(
    instances: Factory, database_url: str, tmp_path: Path
) -> None:
    a = await instances("a", ["alice"], worker={"poll_interval": 3600}, database={"url": database_url})
    broken = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'no such folder' / 'db.sqlite'}")
    try:
        results = await asyncio.gather(
            *(actor_for_key(a.fed, session_factory(broken), f"https://peer{n}.example/k") for n in range(5)),
            return_exceptions=True,
        )
    finally:
        await broken.dispose()
    assert all(isinstance(r, OperationalError) for r in results), results
    assert a.fed.key_reads == {}
