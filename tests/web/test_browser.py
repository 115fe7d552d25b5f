"""The web UI in a real browser: Playwright driving Debian's chromium, headless, against a real server
on loopback with the real generation worker on the tiny pipeline.

Skipped with a reason when ``/usr/bin/chromium`` is missing (``apt-get install chromium``). With
``FEDISERVER_SCREENSHOTS=DIR`` the main pages are saved there at desktop and mobile widths
(``docs/screenshots`` in the README).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.app import AppOptions, create_app
from fediserver.config import Settings
from fediserver.imagegen.worker import GenerationWorker
from fediserver.models import Note, RemoteActor, Report

from .conftest import GEN

if TYPE_CHECKING:
    from playwright._impl._api_structures import SetCookieParam
    from playwright.async_api import Browser, Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"),
    pytest.mark.timeout(300),
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
MOBILE: ViewportSize = {"width": 390, "height": 844}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Site:
    base: str
    sessions: async_sessionmaker[AsyncSession]
    shots: Path


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FEDISERVER_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def site(
    make_settings: Any,
    engine: Any,
    sessions: async_sessionmaker[AsyncSession],
    gpu: GenerationWorker,
    request: pytest.FixtureRequest,
    shots: Path,
) -> AsyncIterator[Site]:
    """A server on a free loopback port, the GPU worker beside it, users alice and mod (an admin)."""
    registration = getattr(request, "param", "open")
    async with sessions() as session:
        await accounts.create_user(session, "alice", "alice-password", display_name="Alice")
        await accounts.create_user(session, "mod", "mod-password", is_admin=True)
        await session.commit()
    port = _free_port()
    settings: Settings = make_settings(
        instance={"domain": f"127.0.0.1:{port}", "registration": registration, "name": "Pixel Harbor"},
        generation=GEN,
    )
    app = create_app(settings, AppOptions(run_worker=False))
    # Open pages hold the notification stream open: shutdown cancels it after a grace period, as `serve` does.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "server did not start"
        await asyncio.sleep(0.02)
    stop = asyncio.Event()
    worker = asyncio.create_task(gpu.run(stop))
    try:
        yield Site(base=f"http://127.0.0.1:{port}", sessions=sessions, shots=shots)
    finally:
        stop.set()
        await worker
        server.should_exit = True
        await serving


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


async def _page(chromium: Browser, site: Site, viewport: ViewportSize = DESKTOP) -> Page:
    context = await chromium.new_context(base_url=site.base, viewport=viewport)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(60_000)
    setattr(page, "errors", errors)  # noqa: B010
    return page


async def _shoot(chromium: Browser, site: Site, page: Page, name: str) -> None:
    """Save ``page``'s URL at both widths: desktop in the light theme, mobile (a fresh context with the same
    cookies) in the dark one."""
    await page.screenshot(path=str(site.shots / f"{name}-desktop.png"), full_page=True)
    context = await chromium.new_context(
        base_url=site.base,
        viewport=MOBILE,
        color_scheme="dark",
    )
    await context.add_cookies(cast("list[SetCookieParam]", await page.context.cookies()))
    mobile = await context.new_page()
    await mobile.goto(page.url)
    await mobile.screenshot(path=str(site.shots / f"{name}-mobile.png"), full_page=True)
    await context.close()


async def _log_in(page: Page, username: str, password: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url("**/")


async def test_sign_up_generate_publish_and_log_out(chromium: Browser, site: Site) -> None:
    page = await _page(chromium, site)
    await page.goto("/")
    await page.get_by_role("link", name="Sign up").first.click()
    await _shoot(chromium, site, page, "signup")
    await page.get_by_label("Username").fill("zoe")
    await page.get_by_label("Password").fill("zoe-password")
    await page.get_by_role("button", name="Create account").click()
    await page.wait_for_url("**/home")

    await page.get_by_role("link", name="Create").click()
    await page.get_by_label("Prompt").fill("a lighthouse on a cliff at dusk")
    await page.get_by_label("Seed").fill("1234")
    await _shoot(chromium, site, page, "compose")
    await page.get_by_role("button", name="Generate").click()
    await page.wait_for_url("**/compose/jobs/*")
    # The script follows the SSE stream; the bar reaches 100% and the page shows the finished image.
    await page.locator("#job-percent", has_text="100%").wait_for()
    await page.locator("#publish-form").wait_for()
    assert await page.locator("#job-progress").evaluate("bar => bar.value === bar.max")
    await _shoot(chromium, site, page, "generated")
    await page.get_by_label("Image description (alt text)").fill("A lighthouse on a cliff, orange sky")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/notes/*")
    assert await page.get_by_role("img", name="A lighthouse on a cliff, orange sky").is_visible()
    assert await page.get_by_text("1234", exact=True).is_visible()
    await _shoot(chromium, site, page, "post")

    await page.goto("/@zoe")
    assert await page.locator(".grid img").count() == 1
    await _shoot(chromium, site, page, "profile")
    await page.goto("/local")
    assert await page.get_by_role("img", name="A lighthouse on a cliff, orange sky").is_visible()
    await _shoot(chromium, site, page, "local-feed")

    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(site.base + "/")
    assert await page.get_by_role("link", name="Log in").first.is_visible()
    assert await page.get_by_role("img", name="A lighthouse on a cliff, orange sky").is_visible()
    await _shoot(chromium, site, page, "front")
    assert getattr(page, "errors") == []  # noqa: B009


@pytest.mark.parametrize("site", ["approval"], indirect=True)
async def test_moderator_approves_a_registration_and_resolves_a_report(chromium: Browser, site: Site) -> None:
    async with site.sessions() as session:
        session.add(
            Report(
                activity_uri="https://spam.example/flags/1",
                actor_uri="https://spam.example/users/mallory",
                object_uris=[f"{site.base}/users/alice"],
                content="This account posts spam",
                raw={},
            )
        )
        await session.commit()
    newcomer = await _page(chromium, site)
    await newcomer.goto("/signup")
    await newcomer.get_by_label("Username").fill("yuri")
    await newcomer.get_by_label("Password").fill("yuri-password")
    await newcomer.get_by_role("button", name="Create account").click()
    await newcomer.get_by_text("A moderator will review your sign-up").wait_for()

    moderator = await _page(chromium, site)
    await _log_in(moderator, "mod", "mod-password")
    await moderator.get_by_role("link", name="Moderation").click()
    await _shoot(chromium, site, moderator, "moderation")
    await moderator.get_by_role("button", name="Approve yuri").click()
    await moderator.wait_for_url("**/admin")
    assert await moderator.locator("#registration-yuri").count() == 0
    await moderator.locator("li", has_text="This account posts spam").get_by_role("button", name="Resolve").click()
    await moderator.wait_for_url("**/admin")
    assert await moderator.get_by_text("This account posts spam").count() == 0

    await _log_in(newcomer, "yuri", "yuri-password")
    assert await newcomer.get_by_role("link", name="Create").is_visible()


async def _tab_to(page: Page, predicate: str, limit: int = 60) -> None:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"(() => {{ const el = document.activeElement; return {predicate}; }})()"):
            return
    raise AssertionError(f"no focusable element matching {predicate} within {limit} tabs")


async def test_keyboard_only_compose(chromium: Browser, site: Site) -> None:
    page = await _page(chromium, site)
    await page.goto("/login")
    # The log-in form's username field has focus on arrival.
    await page.keyboard.type("alice")
    await page.keyboard.press("Tab")
    await page.keyboard.type("alice-password")
    await page.keyboard.press("Enter")
    await page.wait_for_url(site.base + "/")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await _tab_to(page, "el.textContent.trim() === 'Create'")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/compose")
    # Autofocus lands a moment after load under load; keys typed before it were lost ("paper boat…").
    await page.wait_for_function("document.activeElement && document.activeElement.id === 'f-prompt'")
    await page.keyboard.type("a paper boat on a pond")
    await _tab_to(page, "el.textContent.trim() === 'Generate'")
    await page.keyboard.press("Enter")
    await page.locator("#publish-form").wait_for()
    await _tab_to(page, "el.id === 'f-alt'")
    await page.keyboard.press("Control+A")
    await page.keyboard.type("A white paper boat floating on dark water")
    await _tab_to(page, "el.textContent.trim() === 'Publish'")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/notes/*")
    async with site.sessions() as session:
        note = await session.scalar(select(Note))
    assert note is not None
    assert note.generation_job_id is not None
    assert "a paper boat on a pond" in note.content


@pytest.fixture
async def writing_help(sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> AsyncIterator[None]:
    """The writing-help worker beside the server, with the tiny random models (they write noise)."""
    from concurrent.futures import ThreadPoolExecutor

    from fediserver.assist.worker import AssistWorker
    from generation.backend import load_assist_engine

    engine = load_assist_engine(text_model="tiny", caption_model="tiny", cache_dir=tmp_path / "assist", device="cpu")
    executor = ThreadPoolExecutor(max_workers=1)
    worker = AssistWorker(sessions, lambda: engine, executor, poll_interval=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await running
        executor.shutdown()


async def test_compose_writing_help__streams_a_draft_to_review_then_publishes_with_the_disclosure(
    chromium: Browser, site: Site, writing_help: None
) -> None:
    page = await _page(chromium, site)
    await _log_in(page, "alice", "alice-password")
    await page.goto("/compose")
    await page.fill("#f-text", "my first draft about the harbour")
    await page.get_by_role("button", name="Improve my text").click()
    await page.locator("#assist-status", has_text="Draft ready").wait_for(timeout=60_000)
    draft = await page.input_value("#f-text")
    assert draft
    assert draft != "my first draft about the harbour"
    assert await page.input_value("#f-assisted") == "1"
    await page.screenshot(path=str(site.shots / "compose-writing-help.png"))
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/notes/*")
    async with site.sessions() as session:
        note = await session.scalar(select(Note))
    assert note is not None
    assert "Text written with help from AI." in note.content


async def test_member_reply_boost_bookmark_edit_and_live_notifications(chromium: Browser, site: Site) -> None:
    alice = await _page(chromium, site)
    await _log_in(alice, "alice", "alice-password")
    await alice.goto("/compose")
    await alice.get_by_label("Text", exact=True).fill("Harbour lights tonight #harbour")
    await alice.get_by_role("button", name="Publish").click()
    await alice.wait_for_url("**/notes/*")
    permalink = alice.url
    await alice.goto("/notifications")
    assert await alice.get_by_text("No notifications yet.").is_visible()
    await alice.locator("body[data-live=on]").wait_for()
    # Gone if the page reloads: the notifications must come in without one.
    await alice.evaluate("window.stillThisPage = true")

    mod = await _page(chromium, site)
    await _log_in(mod, "mod", "mod-password")
    await mod.goto("/local")
    post = mod.locator("article", has_text="Harbour lights tonight")
    await post.get_by_role("link", name="Reply to Alice").click()
    await mod.wait_for_url("**/notes/*#reply")
    await mod.get_by_label("Text", exact=True).fill("@alice@" + site.base.removeprefix("http://") + " they look great")
    await mod.get_by_role("button", name="Reply", exact=True).click()
    await mod.wait_for_url("**/notes/*#post-*")
    replies = mod.locator("section.replies")
    await replies.get_by_text("they look great").wait_for()
    await (
        mod.locator("article[id^=post-]", has_text="Harbour lights tonight")
        .first.get_by_role("button", name="Boost")
        .click()
    )
    await mod.wait_for_url("**/notes/*")
    await mod.locator("article", has_text="Harbour lights tonight").first.get_by_role("button", name="Bookmark").click()
    await mod.wait_for_url("**/notes/*")
    await _shoot(chromium, site, mod, "thread")
    await mod.get_by_role("link", name="Bookmarks").click()
    await mod.get_by_text("Harbour lights tonight").wait_for()
    await _shoot(chromium, site, mod, "bookmarks")

    # Alice's open notifications page gets the mention and the boost from the server's stream, and the nav
    # badge counts them, without a reload.
    await alice.get_by_text("mentioned you").wait_for()
    await alice.get_by_text("boosted your post").wait_for()
    await alice.locator("#unread-count .n", has_text="2").wait_for()
    assert await alice.locator("#unread-count").is_visible()
    assert await alice.evaluate("window.stillThisPage") is True
    assert await alice.locator("#notifications-read").is_visible(), "mark-read appears with the first one"
    await _shoot(chromium, site, alice, "notifications")
    # Without JavaScript the page still lists them, served whole.
    plain = await chromium.new_context(base_url=site.base, java_script_enabled=False)
    await plain.add_cookies(cast("list[SetCookieParam]", await alice.context.cookies()))
    static_page = await plain.new_page()
    await static_page.goto("/notifications")
    assert await static_page.get_by_text("boosted your post").is_visible()
    assert await static_page.locator("#unread-count .n").inner_text() == "2"
    await plain.close()

    await alice.goto(permalink)
    await alice.locator("article", has_text="Harbour lights tonight").first.get_by_role("link", name="Edit").click()
    await alice.get_by_label("Text", exact=True).fill("Harbour lights tonight, all of them #harbour")
    await alice.get_by_label("Content warning (optional)").fill("bright")
    await alice.get_by_role("button", name="Save changes").click()
    await alice.wait_for_url(permalink)
    await alice.get_by_text("(edited)").first.wait_for()
    await alice.get_by_text("bright").first.click()
    assert await alice.get_by_text("all of them").first.is_visible()
    assert getattr(alice, "errors") == []  # noqa: B009
    assert getattr(mod, "errors") == []  # noqa: B009


async def test_member_search_settings_and_a_batch_of_four(chromium: Browser, site: Site) -> None:
    page = await _page(chromium, site)
    await _log_in(page, "alice", "alice-password")
    await page.get_by_role("link", name="Search").click()
    await page.get_by_label("Handle (@user@server), profile URL, name or #tag").fill("mo")
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url("**/search?q=mo")
    assert await page.get_by_text("@mod@").is_visible()
    await _shoot(chromium, site, page, "search")

    await page.get_by_role("link", name="Settings").click()
    await page.get_by_label("Display name").fill("Alice of the Harbour")
    await page.get_by_label("Bio").fill("Boats, lights and #harbour pictures.")
    await page.get_by_label("Label 1").fill("Site")
    await page.get_by_label("Content 1").fill("https://alice.example")
    await page.get_by_label("Approve followers by hand (locked account)").check()
    await page.get_by_role("button", name="Save profile").click()
    await page.get_by_text("Profile saved.").wait_for()
    assert await page.get_by_label("Display name").input_value() == "Alice of the Harbour"
    await _shoot(chromium, site, page, "settings")

    await page.get_by_role("link", name="Create").click()
    await page.get_by_label("Prompt").fill("a red kite over the sea")
    await page.get_by_label("Generate four to pick from").check()
    await page.get_by_role("button", name="Generate").click()
    await page.wait_for_url("**/compose/batch?jobs=*")
    # Each tile follows its own job; when all four are done the page reloads with the pictures.
    await page.get_by_role("link", name="Pick this one").nth(3).wait_for(timeout=120_000)
    assert await page.locator(".tile img").count() == 4
    await _shoot(chromium, site, page, "batch")
    await page.get_by_role("link", name="Pick this one").nth(1).click()
    await page.get_by_label("Image description (alt text)").fill("A red kite against a grey sea")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/notes/*")
    assert await page.get_by_role("img", name="A red kite against a grey sea").is_visible()
    assert getattr(page, "errors") == []  # noqa: B009


async def test_member_reports_a_post_and_admin_suspends_invites_and_changes_settings(
    chromium: Browser, site: Site, make_settings: Any
) -> None:
    from fediserver.domain.posts import PostDraft, publish_post
    from fediserver.domain.services import open_services

    settings = make_settings(instance={"domain": site.base.removeprefix("http://")}, generation=GEN)
    async with site.sessions() as session, open_services(settings) as svc:
        mod = await accounts.get_user_actor(session, "mod")
        note = await publish_post(svc, session, mod, PostDraft(text="a post worth reporting"))
        await session.commit()
    async with site.sessions() as session:
        session.add(
            RemoteActor(
                uri="https://remote.example/users/troll",
                domain="remote.example",
                preferred_username="troll",
                display_name="Troll",
                inbox="https://remote.example/users/troll/inbox",
                raw={},
            )
        )
        session.add(
            Note(
                uri="https://remote.example/notes/1",
                attributed_to="https://remote.example/users/troll",
                content="<p>a remote post in the feed</p>",
                visibility="public",
            )
        )
        await session.commit()
    member = await _page(chromium, site)
    await _log_in(member, "alice", "alice-password")
    # Every post in a feed offers Report, a remote author's too; the form offers to forward it there.
    await member.goto("/federated")
    await _shoot(chromium, site, member, "federated-feed")
    remote_post = member.locator("article", has_text="a remote post in the feed")
    await remote_post.get_by_role("link", name="Report the post by Troll").click()
    await member.get_by_label("Also send the report, without your name, to the moderators of remote.example").wait_for()
    await member.goto(f"/notes/{note.uri.rsplit('/', 1)[1]}")
    await member.get_by_role("link", name="Report").click()
    await member.get_by_label("Comment for the moderators").fill("This is not art")
    await _shoot(chromium, site, member, "report")
    await member.get_by_role("button", name="Send report").click()
    await member.get_by_text("the moderators will look at your report").wait_for()

    admin = await _page(chromium, site)
    await _log_in(admin, "mod", "mod-password")
    await admin.get_by_role("link", name="Moderation").click()
    await admin.get_by_text("This is not art").wait_for()
    await admin.get_by_role("link", name="Users", exact=True).click()
    await admin.get_by_role("button", name="Suspend @alice").click()
    await admin.wait_for_url("**/admin/users")
    await admin.get_by_role("button", name="Unsuspend @alice").wait_for()
    await _shoot(chromium, site, admin, "admin-users")
    await member.goto("/home")
    await member.wait_for_url("**/login?next=/home")

    await admin.get_by_role("link", name="Invites", exact=True).first.click()
    await admin.get_by_label("Number of uses (empty: no limit)").fill("1")
    await admin.get_by_label("Expires after days (empty: never)").fill("7")
    await admin.get_by_role("button", name="Create an invite link").click()
    await admin.wait_for_url("**/invites")
    link = await admin.locator(".invite-link").first.input_value()
    await _shoot(chromium, site, admin, "admin-invites")
    guest = await _page(chromium, site)
    await guest.goto(link)
    await guest.get_by_label("Username").fill("zoe")
    await guest.get_by_label("Password").fill("zoe-password")
    await guest.get_by_role("button", name="Create account").click()
    await guest.wait_for_url("**/home")

    await admin.get_by_role("link", name="Instance settings", exact=True).click()
    await admin.get_by_label("Name").fill("Fox Den")
    await admin.get_by_label("Rules, one a line").fill("Be kind\nNo photos of real people")
    await admin.get_by_label("Sign-ups").select_option("invite")
    await admin.get_by_label("Writing-help requests a member may make a day (0: no limit)").fill("50")
    await admin.get_by_role("button", name="Save settings").click()
    await admin.get_by_text("Settings saved.").wait_for()
    assert await admin.get_by_label("Writing-help requests a member may make a day (0: no limit)").input_value() == "50"
    await _shoot(chromium, site, admin, "admin-settings")
    await guest.goto("/")
    assert await guest.get_by_role("heading", name="Fox Den").is_visible()
    assert await guest.locator("#rules li").all_inner_texts() == ["Be kind", "No photos of real people"]
    for page in (member, admin, guest):
        assert getattr(page, "errors") == [], getattr(page, "errors")  # noqa: B009
