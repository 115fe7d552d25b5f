"""The inbox worker's batches with the deployed handlers: what a batch remembers across its jobs (the notes
not stored yet, an author's local followers) never hides what an earlier job of the same batch changed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select

import activitypub as ap
from fediserver.federation.remote import store_actor
from fediserver.jobs import batch
from fediserver.jobs.handlers import build_handlers
from fediserver.jobs.worker import Worker
from fediserver.models import Follow, InboundActivity, Note, Notification, StreamEventRow, utcnow

Factory = Callable[..., Awaitable[Any]]
SENDER = "https://remote.example/users/xavier"


def _create(activity: str, note: str, audience: list[str]) -> dict[str, Any]:
    return {
        "@context": ap.AS_CONTEXT, "id": activity, "type": "Create", "actor": SENDER, "to": [ap.PUBLIC],
        "cc": audience,
        "object": {"id": note, "type": "Note", "attributedTo": SENDER, "content": "<p>hi</p>", "to": [ap.PUBLIC],
                   "cc": audience, "published": "2026-11-30T00:00:00Z"},
    }  # fmt: skip


@pytest.fixture(autouse=True)
def one_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch in one transaction however slow the machine (it commits after 50 ms otherwise)."""
    monkeypatch.setattr(batch, "MAX_TRANSACTION_SECONDS", 60.0)


async def _run_as_one_batch(a: Any, bodies: list[dict[str, Any]]) -> list[str]:
    """Queue ``bodies`` from SENDER and let one worker pass run them; returns the statements it ran."""
    async with a.sessions() as session:
        doc = {"id": SENDER, "type": "Person", "preferredUsername": "xavier", "inbox": SENDER + "/inbox",
               "publicKey": {"id": SENDER + "#main-key", "owner": SENDER, "publicKeyPem": "unused"}}  # fmt: skip
        await store_actor(session, doc)
        rows = [
            {"activity_id": body["id"], "activity_type": body["type"], "actor_uri": SENDER,
             "key_id": SENDER + "#main-key", "recipient_actor_id": None, "body": body, "state": "queued",
             "next_attempt_at": utcnow() - timedelta(seconds=1)}
            for body in bodies
        ]  # fmt: skip
        await session.execute(insert(InboundActivity), rows)
        await session.commit()
    statements: list[str] = []
    engine = a.engine.sync_engine
    record = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", record)
    try:
        worker = Worker(a.sessions, build_handlers(a.fed))
        assert await worker.run_once() == len(bodies)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    async with a.sessions() as session:
        states = list(await session.scalars(select(InboundActivity.state)))
    assert states == ["done"] * len(bodies)
    return statements


async def test_batch__the_same_post_twice_in_one_batch_is_stored_once(instances: Factory) -> None:
    a = await instances("a", ["alice"], run_worker=False)
    alice = a.actor_url("alice")
    note = SENDER + "/notes/1"
    bodies = [_create(SENDER + "/c/1", note, [alice]), _create(SENDER + "/c/2", note, [alice])]
    statements = await _run_as_one_batch(a, bodies)
    async with a.sessions() as session:
        assert await session.scalar(select(func.count()).where(Note.uri == note)) == 1
        assert await session.scalar(select(func.count()).where(Notification.type == "mention")) == 1
    # The batch asked once which of its posts were stored, not once per post (the second Create, after the
    # first stored the post, asks again); and once for the highest note id, to number its new notes.
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "FROM notes" in s]
    lookups = [s for s in selects if "max(notes.id)" not in s]
    assert len(lookups) == 2, lookups
    assert len(selects) - len(lookups) == 1, selects


async def test_batch__a_follow_accepted_earlier_in_the_batch_streams_the_authors_next_post(
    instances: Factory,
) -> None:
    # Given alice's pending follow of xavier, and a batch: his Accept of it, then his public post
    a = await instances("a", ["alice"], run_worker=False)
    alice = a.actor_url("alice")
    follow_id = f"{a.base}/follows/1"
    async with a.sessions() as session:
        session.add(Follow(follower_uri=alice, followed_uri=SENDER, activity_uri=follow_id, state="pending"))
        me = await a.user(session, "alice")
        alice_id = me.id
        await session.commit()
    accept = {"@context": ap.AS_CONTEXT, "id": SENDER + "/accepts/1", "type": "Accept", "actor": SENDER,
              "object": {"id": follow_id, "type": "Follow", "actor": alice, "object": SENDER}}  # fmt: skip
    post = _create(SENDER + "/c/3", SENDER + "/notes/3", [SENDER + "/followers"])
    # When one worker pass runs both in one transaction
    await _run_as_one_batch(a, [accept, post])
    # Then the post goes to alice's home stream: the followers read at the batch's start were forgotten
    async with a.sessions() as session:
        rows = list(await session.scalars(select(StreamEventRow).where(StreamEventRow.event == "update")))
    assert [row.keys for row in rows] == [["public", "public:remote", f"user:{alice_id}"]]


async def test_batch__its_new_posts_are_written_in_one_statement(instances: Factory) -> None:
    a = await instances("a", ["alice"], run_worker=False)
    alice = a.actor_url("alice")
    notes = [f"{SENDER}/notes/{n}" for n in range(5)]
    bodies = [_create(f"{SENDER}/c/{n}", note, [alice]) for n, note in enumerate(notes)]
    statements = await _run_as_one_batch(a, bodies)
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO NOTES")]
    assert len(inserts) == 1, inserts
    async with a.sessions() as session:
        stored = [uri for uri in await session.scalars(select(Note.uri).order_by(Note.id))]
        mentions = await session.scalar(select(func.count()).where(Notification.type == "mention"))
    assert stored == notes  # ids in the order the Creates came
    assert mentions == len(notes)
