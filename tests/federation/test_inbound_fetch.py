"""Inbound processing fetches remote documents with no database connection held (issue 8, point 2)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import activitypub as ap
from fediserver.models import InboundActivity, Note, RemoteActor, utcnow
from tests.federation.conftest import steadily_held

Factory = Callable[..., Awaitable[Any]]


async def test_inbound__a_slow_object_fetch_holds_no_database_connection(
    instances: Factory, serve_app: Callable[[Starlette], Awaitable[str]], wait: Any
) -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()
    base = ""

    async def note(request: Request) -> Response:
        arrived.set()
        await release.wait()
        n = request.path_params["n"]
        return JSONResponse(
            {
                "@context": ap.AS_CONTEXT,
                "id": f"{base}/notes/{n}",
                "type": "Note",
                "attributedTo": f"{base}/bob",
                "content": f"<p>slow post {n}</p>",
                "to": [ap.PUBLIC],
                "cc": [alice_uri],
            },
            media_type=ap.ACTIVITY_JSON,
        )

    base = await serve_app(Starlette(routes=[Route("/notes/{n}", note)]))
    a = await instances("a", ["alice"])
    alice_uri = a.fed.urls.actor("alice")
    bob = f"{base}/bob"
    async with a.sessions() as session:
        session.add(RemoteActor(uri=bob, domain=base.removeprefix("http://"), inbox=f"{bob}/inbox", raw={"id": bob}))
        # An object given by reference, as some servers send it: the worker must fetch it (checklist 32).
        create = {
            "@context": ap.AS_CONTEXT,
            "id": f"{base}/activities/1",
            "type": "Create",
            "actor": bob,
            "to": [ap.PUBLIC],
            "cc": [alice_uri],
            "object": f"{base}/notes/1",
        }
        session.add(
            InboundActivity(
                activity_id=create["id"], activity_type="Create", actor_uri=bob, key_id=f"{bob}#key",
                body=create, state="queued", next_attempt_at=utcnow(),
            )
        )  # fmt: skip
        await session.commit()
    pool = a.app.state.engine.sync_engine.pool
    a.wake()
    try:
        await asyncio.wait_for(arrived.wait(), 60)
    except TimeoutError:
        async with a.sessions() as session:
            row = await session.scalar(select(InboundActivity))
            assert row is not None
            raise AssertionError((row.state, row.attempts, row.last_error)) from None
    held = await steadily_held(pool)
    release.set()
    assert held == 0, f"{held} connections held while the worker waits for the remote object"

    async def stored() -> str | None:
        async with a.sessions() as session:
            content = await session.scalar(select(Note.content).where(Note.uri == f"{base}/notes/1"))
            state = await session.scalar(select(InboundActivity.state))
        return content if state == "done" else None

    assert "slow post 1" in await wait(stored)
