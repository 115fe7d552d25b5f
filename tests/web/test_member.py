"""Members on one post: reply and the thread on the permalink, boost/unboost, bookmark/unbookmark and the
bookmarks page, edit (text, content warning, alt text) with its history; all through the domain layer."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.models import Announce, Bookmark, MediaAttachment, Note, NoteEdit

from .conftest import Browser, log_in, post_form
from .test_compose import png


async def _member(browser: Browser, username: str) -> httpx.AsyncClient:
    client = await browser()
    assert (await log_in(client, username, f"{username}-password")).status_code == 303
    return client


async def _post(client: httpx.AsyncClient, text: str, **extra: str) -> str:
    posted = await post_form(client, "/compose", "/compose/post", {"text": text, "visibility": "public", **extra})
    assert posted.status_code == 303
    return posted.headers["location"]


async def _note(sessions: async_sessionmaker[AsyncSession], uri: str) -> Note:
    async with sessions() as session:
        note = await session.scalar(select(Note).where(Note.uri == uri))
    assert note is not None
    return note


async def test_reply__shows_in_the_thread_with_its_ancestor(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice, mod = await _member(browser, "alice"), await _member(browser, "mod")
    uri = await _post(alice, "first light over the bay")
    parent = await _note(sessions, uri)
    page = (await mod.get(uri)).text
    assert f'action="/posts/{parent.id}/reply"' in page
    answered = await post_form(
        mod, uri, f"/posts/{parent.id}/reply", {"text": "lovely colours", "visibility": "public"}
    )
    assert answered.status_code == 303
    async with sessions() as session:
        reply = await session.scalar(select(Note).where(Note.in_reply_to_uri == uri))
    assert reply is not None
    assert reply.local_actor_id != parent.local_actor_id
    assert answered.headers["location"] == f"{uri}#post-{reply.id}"
    thread = (await alice.get(uri)).text
    assert "lovely colours" in thread.split('id="replies-title"')[1]
    assert reply.url is not None
    reply_page = (await alice.get(reply.url)).text
    assert "first light over the bay" in reply_page.split('id="post-' + str(reply.id))[0], "the ancestor comes first"


async def test_reply__refused_with_a_wrong_csrf_token(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice = await _member(browser, "alice")
    uri = await _post(alice, "hello")
    parent = await _note(sessions, uri)
    refused = await alice.post(f"/posts/{parent.id}/reply", data={"csrf": "x" * 43, "text": "no"})
    assert refused.status_code == 403
    async with sessions() as session:
        assert await session.scalar(select(Note).where(Note.in_reply_to_uri == uri)) is None


async def test_followers_only_post__no_reply_form_for_who_may_not_see_it(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice, mod = await _member(browser, "alice"), await _member(browser, "mod")
    uri = await _post(alice, "for my followers", visibility="followers")
    note = await _note(sessions, uri)
    refused = await post_form(mod, "/compose", f"/posts/{note.id}/reply", {"text": "peek"})
    assert refused.status_code == 404
    allowed = await post_form(alice, "/compose", f"/posts/{note.id}/reply", {"text": "a note to self"})
    assert allowed.status_code == 303


async def test_boost_then_unboost(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    alice, mod = await _member(browser, "alice"), await _member(browser, "mod")
    uri = await _post(alice, "boost me")
    note = await _note(sessions, uri)
    assert (await post_form(mod, "/local", f"/posts/{note.id}/boost", {})).status_code == 303
    assert (await post_form(mod, "/local", f"/posts/{note.id}/boost", {})).status_code == 303, "twice is harmless"
    async with sessions() as session:
        assert len((await session.scalars(select(Announce).where(Announce.note_uri == uri))).all()) == 1
    page = (await mod.get("/local")).text
    assert f'action="/posts/{note.id}/unboost"' in page
    assert (await post_form(mod, "/local", f"/posts/{note.id}/unboost", {})).status_code == 303
    async with sessions() as session:
        assert (await session.scalars(select(Announce).where(Announce.note_uri == uri))).all() == []


async def test_bookmark__listed_on_the_bookmarks_page_until_removed(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice, mod = await _member(browser, "alice"), await _member(browser, "mod")
    uri = await _post(alice, "keep this one")
    await _post(alice, "not this one")
    note = await _note(sessions, uri)
    assert "keep this one" not in (await mod.get("/bookmarks")).text
    assert (await post_form(mod, "/local", f"/posts/{note.id}/bookmark", {})).status_code == 303
    marked = (await mod.get("/bookmarks")).text
    assert "keep this one" in marked
    assert "not this one" not in marked
    assert "keep this one" not in (await alice.get("/bookmarks")).text, "bookmarks are private to each user"
    assert (await post_form(mod, "/bookmarks", f"/posts/{note.id}/unbookmark", {})).status_code == 303
    assert "keep this one" not in (await mod.get("/bookmarks")).text
    async with sessions() as session:
        assert (await session.scalars(select(Bookmark))).all() == []


async def test_bookmarks_page__needs_a_log_in(browser: Browser) -> None:
    client = await browser()
    answer = await client.get("/bookmarks")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


async def test_edit__text_cw_and_alt_with_history(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    alice = await _member(browser, "alice")
    files = {"image": ("green.png", png(), "image/png")}
    posted = await post_form(
        alice,
        "/compose",
        "/compose/post",
        {"text": "a grene field", "alt": "Green", "visibility": "public"},
        files=files,
    )
    uri = posted.headers["location"]
    note = await _note(sessions, uri)
    form = (await alice.get(f"/posts/{note.id}/edit")).text
    assert "a grene field" in form
    assert ">Green</textarea>" in form
    missing_alt = await post_form(
        alice, f"/posts/{note.id}/edit", f"/posts/{note.id}/edit", {"text": "a green field", "alt-0": " "}
    )
    assert missing_alt.status_code == 422
    saved = await post_form(
        alice,
        f"/posts/{note.id}/edit",
        f"/posts/{note.id}/edit",
        {"text": "a green field", "summary": "colour", "alt-0": "A green rectangle"},
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == uri
    async with sessions() as session:
        fresh = await session.get(Note, note.id)
        assert fresh is not None
        assert (fresh.source_text, fresh.summary) == ("a green field", "colour")
        [media] = (await session.scalars(select(MediaAttachment).where(MediaAttachment.note_id == note.id))).all()
        assert media.description == "A green rectangle"
        [old] = (await session.scalars(select(NoteEdit).where(NoteEdit.note_id == note.id))).all()
        assert old.source_text == "a grene field"
    page = (await alice.get(uri)).text
    assert "(edited)" in page
    assert "a grene field" in page.split("Earlier versions (1)")[1], "the history is on the permalink"
    assert "a grene field" in (await alice.get(f"/posts/{note.id}/edit")).text.split('id="history-title"')[1]


async def test_edit__someone_elses_post_is_not_found(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice, mod = await _member(browser, "alice"), await _member(browser, "mod")
    uri = await _post(alice, "mine")
    note = await _note(sessions, uri)
    assert (await mod.get(f"/posts/{note.id}/edit")).status_code == 404
    taken = await post_form(mod, "/compose", f"/posts/{note.id}/edit", {"text": "theirs"})
    assert taken.status_code == 404
    assert (await _note(sessions, uri)).source_text == "mine"
