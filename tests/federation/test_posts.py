"""Posts between real instances on loopback: mentions reach accounts that do not follow, direct posts
reach only their addressees, edits arrive as Update with history kept on both sides, replies thread and
notify, hashtags are indexed (federation.md checklist 13, 14, 15)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import activitypub as ap
from fediserver.domain import notifications, posts, tags, threads
from fediserver.domain import reactions as reacting
from fediserver.errors import NotFound
from fediserver.federation import following
from fediserver.models import AccountHandle, DeliveryJob, Follow, Note, NoteTag
from fediserver.text.emoji import emojify

Factory = Callable[..., Awaitable[Any]]
Wait = Callable[..., Awaitable[Any]]


async def _note(instance: Any, uri: str) -> Note | None:
    async with instance.sessions() as session:
        note: Note | None = await session.scalar(select(Note).where(Note.uri == uri))
        return note


async def _notes_of(instance: Any, username: str) -> list[tuple[str, str, str | None]]:
    async with instance.sessions() as session:
        me = await instance.user(session, username)
        rows = await notifications.list_notifications(session, me, notifications.NotificationQuery())
        return [(n.type, n.from_actor_uri, n.note_uri) for n in rows]


async def _publish(instance: Any, username: str, draft: posts.PostDraft) -> Note:
    async with instance.sessions() as session:
        me = await instance.user(session, username)
        note = await posts.publish_post(instance.app.state.services, session, me, draft)
        await session.commit()
    instance.wake()
    return note


async def _delivered(instance: Any, activity_id: str) -> list[str] | None:
    """The inboxes an activity went to, once every delivery of it is done."""
    async with instance.sessions() as session:
        jobs = list(await session.scalars(select(DeliveryJob).where(DeliveryJob.activity_id == activity_id)))
    if any(job.state != "done" for job in jobs):
        return None
    return sorted(job.inbox_url for job in jobs)


async def _follow(follower: Any, username: str, target_uri: str, wait: Wait) -> None:
    async with follower.sessions() as session:
        await following.follow(follower.fed, session, await follower.user(session, username), target_uri)
        await session.commit()
    follower.wake()

    async def accepted() -> bool:
        async with follower.sessions() as session:
            state: str | None = await session.scalar(select(Follow.state).where(Follow.followed_uri == target_uri))
            return state == "accepted"

    await wait(accepted)


async def test_mentions_direct_edits_replies_between_instances(instances: Factory, wait: Wait) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    c = await instances("c", ["dave"])
    alice, bob = a.actor_url("alice"), b.actor_url("bob")
    await _follow(c, "dave", alice, wait)  # dave follows alice; bob does not

    # A direct post mentioning bob by handle: WebFinger over http (local development), to=[bob] only.
    direct = await _publish(a, "alice", posts.PostDraft(text=f"psst @bob@{b.fed.urls.domain}", visibility="direct"))
    assert (direct.to, direct.cc) == ([bob], [])
    assert direct.tags == [{"type": "Mention", "href": bob, "name": f"@bob@{b.fed.urls.domain}"}]
    assert f'<a href="{b.base}/@bob" class="u-url mention">@<span>bob</span></a>' in direct.content
    key = direct.uri.rsplit("/", 1)[1]
    # It reaches only bob's server, not the follower's.
    assert await wait(lambda: _delivered(a, a.fed.urls.note_activity(key))) == [b.fed.urls.shared_inbox()]
    received = await wait(lambda: _note(b, direct.uri))
    assert received.visibility == "direct"
    assert await _note(c, direct.uri) is None
    assert await wait(lambda: _notes_of(b, "bob")) == [("mention", alice, direct.uri)]
    # The handle's WebFinger answer is cached; dave's follow notified alice.
    async with a.sessions() as session:
        cached = await session.scalar(
            select(AccountHandle.actor_uri).where(AccountHandle.acct == f"bob@{b.fed.urls.domain}")
        )
        assert cached == bob
    assert await _notes_of(a, "alice") == [("follow", c.actor_url("dave"), None)]

    # A public post mentioning bob (who does not follow) reaches him, with its hashtags indexed there.
    public = await _publish(
        a, "alice", posts.PostDraft(text=f"Hello @bob@{b.fed.urls.domain}! #Fediverse #日本 https://example.com/")
    )
    assert public.to == [ap.PUBLIC]
    assert public.cc == [a.fed.urls.followers("alice"), bob]
    assert {"type": "Hashtag", "href": a.fed.urls.tag("Fediverse"), "name": "#Fediverse"} in public.tags
    await wait(lambda: _note(b, public.uri))
    await wait(lambda: _note(c, public.uri))
    async with b.sessions() as session:
        assert [n.uri for n in await tags.tagged_notes(session, "fediverse")] == [public.uri]
        assert [n.uri for n in await tags.tagged_notes(session, "日本")] == [public.uri]

    # alice edits it: an Update with `updated` arrives, and both sides keep the earlier version.
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        await posts.edit_post(a.app.state.services, session, me, public.uri, posts.PostEdit(text="Hello again #edited"))
        await session.commit()
    a.wake()

    async def edited_on_b() -> Note | None:
        note = await _note(b, public.uri)
        return note if note is not None and "again" in note.content else None

    remote = await wait(edited_on_b)
    assert remote.updated_at is not None
    for instance in (a, b):
        async with instance.sessions() as session:
            note = await session.scalar(select(Note).where(Note.uri == public.uri))
            assert note is not None
            [old] = await posts.history(session, note)
            assert "Hello" in old.content
            assert "again" not in old.content
    async with b.sessions() as session:
        assert [n.uri for n in await tags.tagged_notes(session, "edited")] == [public.uri]
        assert await tags.tagged_notes(session, "fediverse") == []

    # bob replies and favourites; alice is notified of both, the thread and replies collection show it.
    async with b.sessions() as session:
        me = await b.user(session, "bob")
        reply = await posts.publish_post(
            b.app.state.services, session, me, posts.PostDraft(text="Thanks!", in_reply_to=public.uri)
        )
        await reacting.like(b.app.state.services, session, me, public.uri)
        await session.commit()
        assert reply.cc == [b.fed.urls.followers("bob"), alice]  # the parent's author, mentioned
    b.wake()
    await wait(lambda: _note(a, reply.uri))

    async def both_notified() -> list[tuple[str, str, str | None]] | None:
        found = await _notes_of(a, "alice")
        return found if len(found) == 3 else None

    assert sorted(await wait(both_notified)) == [
        ("favourite", bob, public.uri),
        ("follow", c.actor_url("dave"), None),
        ("mention", bob, reply.uri),
    ]
    async with a.sessions() as session:
        mine = await session.scalar(select(Note).where(Note.uri == public.uri))
        assert mine is not None
        ctx = await threads.context(session, mine, None)
        assert [n.uri for n in ctx.descendants] == [reply.uri]
        answer = await session.scalar(select(Note).where(Note.uri == reply.uri))
        assert answer is not None
        assert [n.uri for n in (await threads.context(session, answer, None)).ancestors] == [public.uri]
    async with httpx.AsyncClient() as http:
        collection = (await http.get(a.fed.urls.note_replies(public.uri.rsplit("/", 1)[1]))).json()
    assert collection["orderedItems"] == [reply.uri]
    assert collection["totalItems"] == 1


async def test_thread_context__hides_what_the_viewer_may_not_see(instances: Factory) -> None:
    a = await instances("a", ["alice", "bob", "eve"])
    alice, bob, eve = (a.actor_url(n) for n in ("alice", "bob", "eve"))
    root = await _publish(a, "alice", posts.PostDraft(text="root"))
    secret = await _publish(a, "bob", posts.PostDraft(text="@alice just us", visibility="direct", in_reply_to=root.uri))
    after = await _publish(a, "alice", posts.PostDraft(text="public again", in_reply_to=secret.uri))
    # A local mention notifies at once; the direct reply is addressed to alice only.
    assert secret.to == [alice]
    assert await _notes_of(a, "alice") == [("mention", bob, secret.uri)]
    async with a.sessions() as session:
        note = await session.scalar(select(Note).where(Note.uri == root.uri))
        assert note is not None
        for viewer, expected in ((alice, [secret.uri, after.uri]), (bob, [secret.uri, after.uri])):
            assert [n.uri for n in (await threads.context(session, note, viewer)).descendants] == expected
        for viewer in (eve, None):
            assert [n.uri for n in (await threads.context(session, note, viewer)).descendants] == [after.uri]
        last = await session.scalar(select(Note).where(Note.uri == after.uri))
        assert last is not None
        assert [n.uri for n in (await threads.context(session, last, eve)).ancestors] == [root.uri]
        # eve cannot reply to what she cannot see
        me = await a.user(session, "eve")
        draft = posts.PostDraft(text="x", in_reply_to=secret.uri)
        with pytest.raises(NotFound, match="no such post"):
            await posts.publish_post(a.app.state.services, session, me, draft)
    # Deleting the direct reply removes the mention it notified.
    async with a.sessions() as session:
        await posts.delete_post(a.app.state.services, session, await a.user(session, "bob"), secret.uri)
        await session.commit()
    assert await _notes_of(a, "alice") == []


async def test_notifications__deduplicated_and_marked_read(instances: Factory, wait: Wait) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    post = await _publish(a, "alice", posts.PostDraft(text="like me"))
    async with b.sessions() as session:
        me = await b.user(session, "bob")
        await reacting.like(b.app.state.services, session, me, post.uri)
        await session.commit()
    b.wake()
    await wait(lambda: _notes_of(a, "alice"))
    # The same Like again (a retry) and an Undo-less repeat make no second notification.
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        await notifications.notify(session, me.id, "favourite", b.actor_url("bob"), post.uri)
        unread = await notifications.list_notifications(session, me, notifications.NotificationQuery(unread_only=True))
        assert len(unread) == 1
        assert await notifications.mark_read(session, me) == 1
        await session.commit()
        unread_query = notifications.NotificationQuery(unread_only=True)
        assert await notifications.list_notifications(session, me, unread_query) == []
    # bob takes the favourite back: the Undo removes its notification, as Mastodon does.
    async with b.sessions() as session:
        await reacting.unlike(b.app.state.services, session, await b.user(session, "bob"), post.uri)
        await session.commit()
    b.wake()

    async def withdrawn() -> bool:
        return await _notes_of(a, "alice") == []

    assert await wait(withdrawn)


async def _send(target: Any, sender: Any, activity: dict[str, Any]) -> None:
    """POST ``activity`` to ``target``'s shared inbox signed as ``sender``'s bob."""
    async with sender.sessions() as session:
        key = ap.load_private_key((await sender.user(session, "bob")).private_key_pem)
    body = json.dumps(activity).encode()
    url = target.fed.urls.shared_inbox()
    headers = ap.sign_request(
        method="POST", url=url, headers={"content-type": ap.ACTIVITY_JSON}, body=body,
        key_id=sender.fed.urls.actor_key("bob"), private_key=key, now=datetime.now(UTC),
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        response = await http.post(url, content=body, headers=headers)
    assert response.status_code == 202, response.text
    target.wake()


async def test_inbound__custom_emoji_kept_and_public_hashtags_indexed(instances: Factory, wait: Wait) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob"])
    alice, bob = a.actor_url("alice"), b.actor_url("bob")
    emoji = {
        "id": f"{b.base}/emojis/1",
        "type": "Emoji",
        "name": ":blobcat:",
        "updated": "2026-01-01T00:00:00Z",
        "icon": {"type": "Image", "mediaType": "image/png", "url": f"{b.base}/media/blobcat.png"},
    }
    hashtag = {"type": "Hashtag", "name": "#Blobs", "href": f"{b.base}/tags/blobs"}
    for n, (to, cc) in enumerate([([ap.PUBLIC], [alice]), ([alice], [])]):
        note = ap.note(
            id=f"{b.base}/notes/e{n}",
            attributed_to=bob,
            content="<p>:blobcat: #Blobs</p>",
            published=datetime.now(UTC),
            to=to,
            cc=cc,
            tag=[emoji, hashtag, {"type": "Mention", "href": alice, "name": f"@alice@{a.fed.urls.domain}"}],
        )
        await _send(a, b, ap.create(id=f"{note['id']}/activity", actor=bob, object=note))
    stored = [await wait(lambda n=n: _note(a, f"{b.base}/notes/e{n}")) for n in range(2)]
    assert stored[0].emojis == [{"shortcode": "blobcat", "url": f"{b.base}/media/blobcat.png"}]
    assert emojify(stored[0].content, stored[0].emojis).startswith(f'<p><img src="{b.base}/media/blobcat.png"')
    assert [s.visibility for s in stored] == ["public", "direct"]
    async with a.sessions() as session:
        # Only the public post is in the tag's timeline (and a direct one is never indexed).
        assert [n.uri for n in await tags.tagged_notes(session, "blobs")] == [stored[0].uri]
        assert await session.scalar(select(NoteTag.tag_id).where(NoteTag.note_id == stored[1].id)) is None
    assert sorted(await _notes_of(a, "alice")) == [("mention", bob, s.uri) for s in stored]
