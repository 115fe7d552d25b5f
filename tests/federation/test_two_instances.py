"""Two fediserver instances federating over real loopback HTTP: follow, post, reply, like, boost,
delete and unfollow, with each side's state checked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from fediserver.domain import posts, timelines
from fediserver.domain import reactions as reacting
from fediserver.federation import following
from fediserver.models import Announce, DeliveryJob, Follow, InboundActivity, Like, Note

Wait = Callable[..., Awaitable[Any]]


async def _follow_state(instance: Any, follower: str, followed: str) -> str | None:
    async with instance.sessions() as session:
        state: str | None = await session.scalar(
            select(Follow.state).where(Follow.follower_uri == follower, Follow.followed_uri == followed)
        )
        return state


async def _accepted(instance: Any, follower: str, followed: str) -> bool:
    return await _follow_state(instance, follower, followed) == "accepted"


async def _note(instance: Any, uri: str) -> Note | None:
    async with instance.sessions() as session:
        note: Note | None = await session.scalar(select(Note).where(Note.uri == uri))
        return note


async def test_two_instances__full_social_round_trip(instances: Callable[..., Awaitable[Any]], wait: Wait) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice, bob = a.actor_url("alice"), b.actor_url("bob")

    # alice follows bob; bob's server auto-accepts and alice's side records the Accept
    async with a.sessions() as session:
        await following.follow(a.fed, session, await a.user(session, "alice"), bob)
        await session.commit()
    a.wake()
    assert await wait(lambda: _accepted(a, alice, bob))
    assert await _follow_state(b, alice, bob) == "accepted"

    # bob follows alice back
    async with b.sessions() as session:
        await following.follow(b.fed, session, await b.user(session, "bob"), alice)
        await session.commit()
    b.wake()
    assert await wait(lambda: _accepted(b, bob, alice))

    # alice posts; it arrives on bob's side, sanitised and addressed as public
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        draft = posts.PostDraft(text="Hello <script>x</script> fediverse")
        post = await posts.publish_post(a.app.state.services, session, me, draft)
        await session.commit()
        post_uri = post.uri
    a.wake()
    remote = await wait(lambda: _note(b, post_uri))
    assert remote.attributed_to == alice
    assert remote.visibility == "public"
    assert "<script>" not in remote.content
    assert "Hello" in remote.content

    # bob's timeline shows it
    async with b.sessions() as session:
        reader = timelines.Reader(actor=await b.user(session, "bob"), uri=b.fed.urls.actor("bob"))
        timeline = await timelines.home(session, reader, timelines.Newest(20))
    assert [e.note.uri for e in timeline] == [post_uri]

    # bob replies, likes and boosts; alice's side records all three
    async with b.sessions() as session:
        me = await b.user(session, "bob")
        target = await session.scalar(select(Note).where(Note.uri == post_uri))
        assert target is not None
        svc = b.app.state.services
        reply = await posts.publish_post(svc, session, me, posts.PostDraft(text="Nice!", in_reply_to=target.uri))
        await reacting.like(svc, session, me, target.uri)
        await reacting.boost(svc, session, me, target.uri)
        await session.commit()
        reply_uri = reply.uri
    b.wake()
    stored_reply = await wait(lambda: _note(a, reply_uri))
    assert stored_reply.in_reply_to_uri == post_uri

    async def reactions() -> tuple[int, int] | None:
        async with a.sessions() as session:
            likes = (await session.scalars(select(Like).where(Like.note_uri == post_uri))).all()
            boosts = (await session.scalars(select(Announce).where(Announce.note_uri == post_uri))).all()
        if likes and boosts:
            assert likes[0].actor_uri == bob
            assert boosts[0].actor_uri == bob
            return len(likes), len(boosts)
        return None

    assert await wait(reactions) == (1, 1)

    # alice deletes the post; bob's copy is marked deleted and leaves the timeline
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        await posts.delete_post(a.app.state.services, session, me, post_uri)
        await session.commit()
    a.wake()

    async def deleted_on_b() -> bool:
        note = await _note(b, post_uri)
        return note is not None and note.deleted_at is not None

    assert await wait(deleted_on_b)
    async with a.sessions() as session:
        assert (await session.scalar(select(Note.deleted_at).where(Note.uri == post_uri))) is not None

    # alice unfollows bob: her side forgets the follow at once, and bob's side once the Undo arrives
    assert await _follow_state(b, alice, bob) == "accepted", "bob's side must have the follow to forget"
    async with a.sessions() as session:
        await following.unfollow(a.fed, session, await a.user(session, "alice"), bob)
        await session.commit()
    assert await _follow_state(a, alice, bob) is None
    a.wake()

    async def undo_delivered() -> DeliveryJob | None:
        async with a.sessions() as session:
            job: DeliveryJob | None = await session.scalar(
                select(DeliveryJob).where(DeliveryJob.activity_id.endswith("/undo"), DeliveryJob.state == "done")
            )
            return job

    delivered = await wait(undo_delivered)
    assert (delivered.inbox_url, delivered.last_status) == (b.fed.urls.inbox("bob"), 202)

    async def undo_processed_on_b() -> InboundActivity | None:
        async with b.sessions() as session:
            row: InboundActivity | None = await session.scalar(
                select(InboundActivity).where(
                    InboundActivity.activity_id == delivered.activity_id, InboundActivity.state == "done"
                )
            )
            return row

    processed = await wait(undo_processed_on_b)
    assert (processed.activity_type, processed.actor_uri) == ("Undo", alice)
    assert await _follow_state(b, alice, bob) is None
    assert await _follow_state(b, bob, alice) == "accepted"
