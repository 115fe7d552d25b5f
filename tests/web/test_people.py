"""Members: notifications (listed, marked read), search (local accounts, tags, remote accounts by URL or
name) and follow from the results, profile settings and follow requests."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.models import DeliveryJob, Follow, LocalActor, Note, Notification, RemoteActor, User, utcnow
from fediserver.oauth import grants
from fediserver.oauth.grants import OOB
from fediserver.oauth.scopes import Scopes

from .conftest import Browser, log_in, post_form
from .test_compose import png

BOB = "https://remote.example/users/bob"


async def _member(browser: Browser, username: str) -> httpx.AsyncClient:
    client = await browser()
    assert (await log_in(client, username, f"{username}-password")).status_code == 303
    return client


async def _bob(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A remote actor already known (cached), so no network is needed to resolve it."""
    async with sessions() as session:
        session.add(
            RemoteActor(
                uri=BOB,
                domain="remote.example",
                preferred_username="bob",
                display_name="Bob Builder",
                url="https://remote.example/@bob",
                inbox=f"{BOB}/inbox",
                raw={"id": BOB, "type": "Person"},
            )
        )
        await session.commit()


async def test_notifications__a_like_is_listed_then_marked_read(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice, mod = await _member(browser, "alice"), await _member(browser, "mod")
    posted = await post_form(alice, "/compose", "/compose/post", {"text": "like me", "visibility": "public"})
    uri = posted.headers["location"]
    assert "No notifications yet." in (await alice.get("/notifications")).text
    async with sessions() as session:
        note = await session.scalar(select(Note).where(Note.uri == uri))
    assert note is not None
    assert (await post_form(mod, "/local", f"/posts/{note.id}/like", {})).status_code == 303
    page = (await alice.get("/notifications")).text
    assert "mod liked your post" in page
    assert 'class="notification unread"' in page
    assert f'href="{uri}"' in page
    assert 'data-stream="/notifications/stream"' in page, "the script's live stream is named on the page"
    assert "liked your post" not in (await mod.get("/notifications")).text, "each sees only their own"
    assert (await post_form(alice, "/notifications", "/notifications/read", {"up_to": "999999"})).status_code == 303
    async with sessions() as session:
        [row] = (await session.scalars(select(Notification))).all()
    assert row.read_at is not None
    assert 'class="notification unread"' not in (await alice.get("/notifications")).text


async def test_notifications__mark_read_refused_with_a_wrong_csrf_token(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice = await _member(browser, "alice")
    refused = await alice.post("/notifications/read", data={"csrf": "y" * 43})
    assert refused.status_code == 403


async def test_search__local_accounts_tags_and_a_known_remote_account(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _bob(sessions)
    alice = await _member(browser, "alice")
    await post_form(alice, "/compose", "/compose/post", {"text": "evening #Sunset", "visibility": "public"})
    by_name = (await alice.get("/search", params={"q": "ali"})).text
    assert 'href="http://127.0.0.1:8000/@alice"' in by_name
    assert "remote.example" not in by_name
    tags = (await alice.get("/search", params={"q": "#sun"})).text
    assert 'href="/tags/sunset"' in tags
    remote = (await alice.get("/search", params={"q": "bob"})).text
    assert "Bob Builder" in remote
    assert f'name="account" value="{BOB}"' in remote
    by_url = (await alice.get("/search", params={"q": BOB})).text
    assert "@bob@remote.example" in by_url
    nothing = (await alice.get("/search", params={"q": "zzzz"})).text
    assert "Nothing found for zzzz." in nothing


async def test_search__an_unresolvable_handle_says_why(browser: Browser) -> None:
    alice = await _member(browser, "alice")
    answer = await alice.get("/search", params={"q": "@nobody@127.0.0.1:9"})
    assert answer.status_code == 200
    assert "Could not look up @nobody@127.0.0.1:9" in answer.text


async def test_search__follow_a_remote_account_from_the_results(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _bob(sessions)
    alice = await _member(browser, "alice")
    followed = await post_form(alice, "/search?q=bob", "/follow", {"account": BOB})
    assert followed.status_code == 200
    assert f"Follow request sent to {BOB}" in followed.text
    async with sessions() as session:
        row = await session.scalar(select(Follow).where(Follow.followed_uri == BOB))
    assert row is not None
    assert row.state == "pending"


async def test_settings__profile_saved_through_the_domain(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice = await _member(browser, "alice")
    form = (await alice.get("/settings")).text
    assert 'id="f-field-name-3"' in form, "four field rows"
    data = {
        "display_name": "Alice A.",
        "bio": "I paint with #light",
        "field-name-0": "Site",
        "field-value-0": "https://alice.example",
        "locked": "1",
        "bot": "1",
    }
    files = {"avatar": ("a.png", png(), "image/png")}
    saved = await post_form(alice, "/settings", "/settings", data, files=files)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/settings?saved=1"
    async with sessions() as session:
        actor = await session.scalar(select(LocalActor).where(LocalActor.username == "alice"))
    assert actor is not None
    assert actor.display_name == "Alice A."
    assert "/tags/light" in actor.summary
    assert [(f["name"], f["value"]) for f in actor.fields] == [("Site", "https://alice.example")]
    assert actor.manually_approves_followers
    assert actor.actor_type == "Service"
    assert actor.avatar_key is not None
    page = (await alice.get("/settings?saved=1")).text
    assert "Profile saved." in page
    assert "I paint with #light" in page
    too_long = await post_form(alice, "/settings", "/settings", {"display_name": "x" * 31})
    assert too_long.status_code == 422
    assert "display name: at most 30 characters" in too_long.text
    unlocked = await post_form(alice, "/settings", "/settings", {"display_name": "Alice A."})
    assert unlocked.status_code == 303
    async with sessions() as session:
        actor = await session.scalar(select(LocalActor).where(LocalActor.username == "alice"))
    assert actor is not None
    assert not actor.manually_approves_followers, "an unticked box turns the setting off"


async def test_settings__follow_requests_accepted_and_rejected(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _bob(sessions)
    alice_uri = "http://127.0.0.1:8000/users/alice"
    async with sessions() as session:
        session.add(Follow(follower_uri=BOB, followed_uri=alice_uri, activity_uri=f"{BOB}#follows/1", state="pending"))
        await session.commit()
    alice = await _member(browser, "alice")
    page = (await alice.get("/settings")).text
    assert "Bob Builder" in page
    assert f'name="account" value="{BOB}"' in page
    accepted = await post_form(alice, "/settings", "/settings/requests", {"account": BOB, "decision": "accept"})
    assert accepted.status_code == 303
    async with sessions() as session:
        row = await session.scalar(select(Follow).where(Follow.follower_uri == BOB))
        jobs = (await session.scalars(select(DeliveryJob))).all()
    assert row is not None
    assert row.state == "accepted"
    assert any(job.inbox_url == f"{BOB}/inbox" for job in jobs)
    assert "No one is waiting." in (await alice.get("/settings")).text
    again = await post_form(alice, "/settings", "/settings/requests", {"account": BOB, "decision": "reject"})
    assert again.status_code == 404, "nothing pending any more"


async def test_navigation__links_lead_to_the_web_pages_not_the_api(browser: Browser) -> None:
    alice = await _member(browser, "alice")
    page = (await alice.get("/compose")).text
    for path in ("/home", "/notifications", "/search", "/bookmarks", "/settings"):
        assert re.search(f'<a href="{path}"[ >]', page), path
    assert 'href="/api/' not in page


async def _api_token(sessions: async_sessionmaker[AsyncSession], username: str) -> str:
    async with sessions() as session:
        user = await session.scalar(select(User).join(LocalActor).where(LocalActor.username == username))
        assert user is not None
        scopes = Scopes.parse("read")
        app, _ = await grants.register_app(session, "t", [OOB], scopes, None)
        issued = await grants.issue_token(session, app, user, scopes)
        await session.commit()
        return issued.access_token


async def test_search__the_web_page_and_api_v2_search_list_the_same_accounts(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Both ask ``domain.directory``: a deleted local account and a deleted remote one are in neither."""
    await _bob(sessions)
    async with sessions() as session:
        await accounts.create_user(session, "bobby", "bobby-password", display_name="Bobby Tables")
        gone = await accounts.create_user(session, "bobgone", "bobgone-password")
        gone.actor.deleted_at = utcnow()
        session.add(
            RemoteActor(
                uri="https://remote.example/users/bobdead",
                domain="remote.example",
                preferred_username="bobdead",
                inbox="https://remote.example/users/bobdead/inbox",
                raw={},
                deleted_at=utcnow(),
            )
        )
        await session.commit()
    alice = await _member(browser, "alice")
    token = await _api_token(sessions, "alice")
    for query in ("bob", "Bob", "@bob@remote.example", "bobby"):
        page = (await alice.get("/search", params={"q": query})).text
        web_handles = re.findall(r'<span class="handle">@?([^<]+)</span>', page)
        api = await alice.get("/api/v2/search", params={"q": query}, headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 200
        api_handles = [a["acct"] if "@" in a["acct"] else f"{a['acct']}@127.0.0.1:8000" for a in api.json()["accounts"]]
        assert [h.removeprefix("@") for h in web_handles] == api_handles, query
    listed = (await alice.get("/search", params={"q": "bob"})).text
    assert "@bobby@127.0.0.1:8000" in listed, "the twin: a live account is found"
    assert "@bob@remote.example" in listed
    assert "bobgone" not in listed
    assert "bobdead" not in listed
