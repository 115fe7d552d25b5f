"""``Idempotency-Key`` on outbox POST (c2s.md §7 rule 5): a retry with the same key and token makes no second
activity and no second delivery; another key, or another token, is a new request."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from fediserver.models import DeliveryJob, Note
from tests.c2s.conftest import PUBLIC, ClientFor, problem_text

NOTE = {"type": "Note", "content": "once only", "to": [PUBLIC]}


async def _count(a: Any, model: Any) -> int:
    async with a.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_6__same_idempotency_key_and_token_give_the_same_activity(
    instances: Any, client_for: ClientFor, wait: Any
) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice, bob = await client_for(a, "alice"), await client_for(b, "bob")
    assert (await bob.post({"type": "Follow", "object": alice.actor})).status_code == 201

    async def accepted() -> bool:
        return bool((await alice.get(f"{alice.actor}/followers")).json()["totalItems"])

    await wait(accepted)
    first = await alice.post(NOTE, **{"Idempotency-Key": "k-1"})
    again = await alice.post(NOTE, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Location"] == first.headers["Location"]
    async with a.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Note).where(Note.source_text == "once only")) == 1
        jobs = await session.scalar(
            select(func.count()).select_from(DeliveryJob).where(DeliveryJob.activity_id == first.headers["Location"])
        )
        assert jobs == 1
    # the twins: another key, or the same key with another token, is a new post
    other_key = await alice.post(NOTE, **{"Idempotency-Key": "k-2"})
    assert other_key.headers["Location"] != first.headers["Location"]
    other_token = await client_for(a, "alice")
    same_key = await other_token.post(NOTE, **{"Idempotency-Key": "k-1"})
    assert same_key.headers["Location"] not in (first.headers["Location"], other_key.headers["Location"])


async def test_6__idempotency_key_covers_every_activity_type(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice", "carol"])
    alice = await client_for(a, "alice")
    created = await alice.post(NOTE)
    note = (await alice.get(created.headers["Location"])).json()["object"]["id"]
    carol = await client_for(a, "carol")
    like = await carol.post({"type": "Like", "object": note}, **{"Idempotency-Key": "like"})
    retried = await carol.post({"type": "Like", "object": note}, **{"Idempotency-Key": "like"})
    assert retried.status_code == 201
    assert retried.headers["Location"] == like.headers["Location"]
    # without the key, the repeated Like is refused as redundant
    repeated = await carol.post({"type": "Like", "object": note})
    assert repeated.status_code == 409
    assert "redundant-activity" in problem_text(repeated)


async def test_6__a_failed_request_does_not_use_up_its_key(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    refused = await alice.post({"type": "Note", "content": 5}, **{"Idempotency-Key": "k"})
    assert refused.status_code == 400
    assert (await alice.post(NOTE, **{"Idempotency-Key": "k"})).status_code == 201
    assert (await alice.post(NOTE, **{"Idempotency-Key": ""})).status_code == 400
    assert (await alice.post(NOTE, **{"Idempotency-Key": "x" * 256})).status_code == 400


async def test_6__concurrent_retries_with_one_key_make_one_activity(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    alice = await client_for(a, "alice")
    body = {"type": "Note", "content": "raced", "to": [PUBLIC]}
    answers = await asyncio.gather(*(alice.post(body, **{"Idempotency-Key": "race"}) for _ in range(4)))
    assert all(answer.status_code in (201, 409) for answer in answers), [a.text for a in answers]
    assert len({answer.headers["Location"] for answer in answers if answer.status_code == 201}) == 1
    async with a.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Note).where(Note.source_text == "raced")) == 1
