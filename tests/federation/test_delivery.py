"""Delivery outcomes against real sink servers: done, permanent failure, Retry-After, fresh signatures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import activitypub as ap
from fediserver.federation import outbound
from fediserver.federation.delivery import DeliveryHandler
from fediserver.jobs.worker import Worker
from fediserver.models import DeliveryJob
from tests.federation.conftest import steadily_held

Factory = Callable[..., Awaitable[Any]]


async def test_delivery__classifies_outcomes_and_signs_each_attempt_afresh(
    instances: Factory, serve_app: Callable[[Starlette], Awaitable[str]]
) -> None:
    seen: list[dict[str, str]] = []

    async def inbox(request: Request) -> Response:
        seen.append({**request.headers, "path": request.url.path})
        status = int(request.path_params["status"])
        return Response(status_code=status, headers={"Retry-After": "3600"} if status == 503 else {})

    sink = await serve_app(Starlette(routes=[Route("/{status:int}/inbox", inbox, methods=["POST"])]))
    # The app's own worker stays off: this test's worker must be the one to claim the four jobs.
    a = await instances("a", ["alice"], run_worker=False)
    activity = {"@context": ap.AS_CONTEXT, "id": f"{a.base}/x", "type": "Note"}
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        inboxes = [f"{sink}/{status}/inbox" for status in (202, 410, 503, 500)]
        await outbound.enqueue(a.fed, session, activity, me, inboxes)
        await session.commit()
    worker = Worker(a.sessions, [DeliveryHandler(a.fed)])
    before = a.fed.clock()
    assert await worker.run_once() == 4

    async with a.sessions() as session:
        jobs = {job.inbox_url.split("/")[3]: job for job in await session.scalars(select(DeliveryJob))}
    assert jobs["202"].state == "done"
    assert jobs["202"].last_status == 202
    assert jobs["410"].state == "failed", "410 Gone is permanent"
    assert jobs["503"].state == "queued"
    assert jobs["503"].next_attempt_at >= before + timedelta(seconds=3600), "Retry-After is honoured"
    assert jobs["500"].state == "queued"
    assert jobs["500"].next_attempt_at < before + timedelta(hours=1)
    # Every POST was signed by alice's key, over the exact body, with a Digest.
    assert len(seen) == 4
    for headers in seen:
        assert f'keyId="{a.fed.urls.actor_key("alice")}"' in headers["signature"]
        assert headers["digest"].startswith("SHA-256=")

    # The retry of the 500 is signed again at send time: a later clock gives a new Date and signature.
    async with a.sessions() as session:
        job = await session.get(DeliveryJob, jobs["500"].id)
        assert job is not None
        job.next_attempt_at = a.fed.clock()
        await session.commit()
    later = a.fed.clock() + timedelta(minutes=2)
    a.fed.clock = lambda: later
    await worker.run_once()
    first, retry = [h for h in seen if h["path"] == "/500/inbox"]
    assert retry["date"] == ap.http_date(later)
    assert retry["date"] != first["date"]
    assert retry["signature"] != first["signature"]


async def test_delivery__holds_no_database_connection_while_the_inbox_answers(
    instances: Factory, serve_app: Callable[[Starlette], Awaitable[str]], wait: Any
) -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()
    concurrent = 4

    async def slow_inbox(request: Request) -> Response:
        await request.body()
        seen.append(request.url.path)
        if len(seen) == concurrent:
            arrived.set()
        await release.wait()
        return Response(status_code=202)

    seen: list[str] = []
    sink = await serve_app(Starlette(routes=[Route("/{n:int}/inbox", slow_inbox, methods=["POST"])]))
    a = await instances("a", ["alice"], worker={"poll_interval": 3600}, federation={"delivery_per_host": concurrent})
    activity = {"@context": ap.AS_CONTEXT, "id": f"{a.base}/x", "type": "Note"}
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        await outbound.enqueue(a.fed, session, activity, me, [f"{sink}/{n}/inbox" for n in range(concurrent)])
        await session.commit()
    pool = a.app.state.engine.sync_engine.pool
    a.wake()
    await asyncio.wait_for(arrived.wait(), 60)
    # Every delivery now waits on the inbox (the app's worker runs them): none may hold a connection.
    held = await steadily_held(pool)
    release.set()
    assert held == 0, f"{held} connections held while {concurrent} deliveries wait for the inbox"

    async def outcomes() -> list[tuple[str, str | None]] | None:
        async with a.sessions() as session:
            found = [(j.state, j.last_error) for j in await session.scalars(select(DeliveryJob))]
        return found if all(state != "running" for state, _ in found) else None

    assert await wait(outcomes) == [("done", None)] * concurrent


async def test_delivery__one_inbox_receives_its_activities_one_at_a_time_in_enqueue_order(
    instances: Factory, serve_app: Callable[[Starlette], Awaitable[str]], wait: Any
) -> None:
    # Given five activities to one slow inbox and one to another, with room for all six in flight at once
    received: list[str] = []
    in_flight = {"slow": 0, "most": 0}
    slow_received_before_other: list[int] = []

    async def slow(request: Request) -> Response:
        in_flight["slow"] += 1
        in_flight["most"] = max(in_flight["most"], in_flight["slow"])
        received.append((await request.json())["id"])
        await asyncio.sleep(0.1)  # long enough for a second POST to arrive, were one sent alongside
        in_flight["slow"] -= 1
        return Response(status_code=202)

    async def other(request: Request) -> Response:
        slow_received_before_other.append(len(received))
        return Response(status_code=202)

    sink = await serve_app(
        Starlette(routes=[Route("/slow/inbox", slow, methods=["POST"]), Route("/other/inbox", other, methods=["POST"])])
    )
    a = await instances("a", ["alice"], worker={"poll_interval": 3600}, federation={"delivery_per_host": 8})
    ids = [f"{a.base}/activities/{n}" for n in range(5)]
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        for activity_id in ids:
            activity = {"@context": ap.AS_CONTEXT, "id": activity_id, "type": "Note"}
            await outbound.enqueue(a.fed, session, activity, me, [f"{sink}/slow/inbox"])
        await outbound.enqueue(a.fed, session, {**activity, "id": f"{a.base}/other"}, me, [f"{sink}/other/inbox"])
        await session.commit()
    # When the app's worker delivers them
    a.wake()
    assert await wait(_settled(a)) == ["done"] * 6
    # Then the slow inbox got them one at a time, oldest first, while the other inbox was served alongside
    assert received == ids
    assert in_flight["most"] == 1, "two POSTs to one inbox were in flight at once"
    # (the other's job is the newest: had it waited for the slow inbox, all five would have come first)
    assert slow_received_before_other[0] < len(ids), "the other inbox waited for the slow one"


async def test_delivery__a_job_waiting_to_retry_does_not_hold_back_its_inbox(
    instances: Factory, serve_app: Callable[[Starlette], Awaitable[str]], wait: Any
) -> None:
    # Given three activities to one inbox that answers the first with 503
    received: list[str] = []

    async def inbox(request: Request) -> Response:
        received.append((await request.json())["id"])
        return Response(status_code=503 if len(received) == 1 else 202)

    sink = await serve_app(Starlette(routes=[Route("/inbox", inbox, methods=["POST"])]))
    a = await instances("a", ["alice"], worker={"poll_interval": 3600})
    ids = [f"{a.base}/activities/{n}" for n in range(3)]
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        for activity_id in ids:
            activity = {"@context": ap.AS_CONTEXT, "id": activity_id, "type": "Note"}
            await outbound.enqueue(a.fed, session, activity, me, [f"{sink}/inbox"])
        await session.commit()
    a.wake()
    # Then the younger two arrive, and the first waits for its retry
    assert await wait(_settled(a)) == ["queued", "done", "done"]
    assert received == ids


def _settled(a: Any) -> Callable[[], Awaitable[list[str] | None]]:
    """The delivery jobs' states in enqueue order, once none is running or still due."""

    async def states() -> list[str] | None:
        async with a.sessions() as session:
            jobs = list(await session.scalars(select(DeliveryJob).order_by(DeliveryJob.id)))
        now = a.fed.clock()
        pending = [j for j in jobs if j.state == "running" or (j.state == "queued" and j.next_attempt_at <= now)]
        return None if pending else [j.state for j in jobs]

    return states
