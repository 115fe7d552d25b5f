"""A signed activity that the worker cannot process must not stop the worker (issue 8, point 2).

A Create nested ~930 levels deep used to pass the inbox and then raise RecursionError when the worker
decoded the stored row in a deeper stack, ending the worker task for good while the inbox kept answering
202. Whether the inbox now refuses it (a depth limit) or accepts it, the worker must stay alive and the
next activity must be processed. Where exactly decoding overflows depends on the stack, so the failure
itself is reproduced deterministically on a stored row in tests/fediserver/test_worker_boundary.py.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

import activitypub as ap
from fediserver.models import InboundActivity

Factory = Callable[..., Awaitable[Any]]
Wait = Callable[..., Awaitable[Any]]
DEPTH = 920


def _create(actor: str, note_id: str, extra: Any = None) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "@context": ap.AS_CONTEXT,
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": actor,
        "to": [ap.PUBLIC],
        "object": {"id": note_id, "type": "Note", "attributedTo": actor, "content": "<p>hi</p>", "to": [ap.PUBLIC]},
    }
    if extra is not None:
        activity["object"]["x"] = extra
    return activity


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


async def _post(target: Any, sender: Any, username: str, body: bytes) -> httpx.Response:
    async with sender.sessions() as session:
        actor = await sender.user(session, username)
        key = ap.load_private_key(actor.private_key_pem)
    url = target.fed.urls.shared_inbox()
    headers = ap.sign_request(
        method="POST", url=url, headers={"content-type": ap.ACTIVITY_JSON}, body=body,
        key_id=sender.fed.urls.actor_key(username), private_key=key, now=datetime.now(UTC),
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=body, headers=headers)


async def test_deeply_nested_create__does_not_stop_the_worker(instances: Factory, wait: Wait) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    bob = b.actor_url("bob")
    deep = _create(bob, f"{b.base}/notes/deep", _nested(DEPTH))
    deep_response = await _post(a, b, "bob", json.dumps(deep).encode())
    assert deep_response.status_code in (202, 400, 413, 422), deep_response.text

    honest_id = f"{b.base}/notes/honest"
    honest = await _post(a, b, "bob", json.dumps(_create(bob, honest_id)).encode())
    assert honest.status_code == 202
    a.wake()

    async def processed() -> bool:
        async with a.sessions() as session:
            state: str | None = await session.scalar(
                select(InboundActivity.state).where(InboundActivity.activity_id == f"{honest_id}/activity")
            )
            return state == "done"

    assert await wait(processed)
    async with a.sessions() as session:
        rows = (await session.execute(select(InboundActivity.activity_id, InboundActivity.state))).all()
    states = dict(rows)
    assert states[f"{honest_id}/activity"] == "done"
    if deep_response.status_code == 202:
        assert states[f"{b.base}/notes/deep/activity"] in ("done", "failed")
    async with httpx.AsyncClient() as http:
        health = await http.get(f"{a.base}/health")
    assert (health.status_code, health.json()["worker"]) == (200, "running")
