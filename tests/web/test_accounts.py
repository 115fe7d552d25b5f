"""Sign-up per registration mode, log-in and log-out, CSRF on every form, the login limiter."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.models import LocalActor, User, WebSession

from .conftest import Browser, csrf_of, log_in, post_form


async def _user(sessions: async_sessionmaker[AsyncSession], username: str) -> User | None:
    async with sessions() as session:
        found: User | None = await session.scalar(select(User).join(User.actor).where(LocalActor.username == username))
        return found


async def test_signup_open__creates_an_approved_user_and_logs_in(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await browser("open")
    response = await post_form(client, "/signup", "/signup", {"username": "carol", "password": "carol-password"})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "fediserver_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("Lax", "lax")
    user = await _user(sessions, "carol")
    assert user is not None
    assert user.is_approved
    home = await client.get("/home")
    assert home.status_code == 200
    assert 'href="/@carol"' in home.text


async def test_signup_approval__waits_for_a_moderator(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await browser("approval")
    response = await post_form(client, "/signup", "/signup", {"username": "dave", "password": "dave-password"})
    assert response.status_code == 201
    assert "fediserver_session=" not in response.headers.get("set-cookie", "")
    user = await _user(sessions, "dave")
    assert user is not None
    assert not user.is_approved
    refused = await log_in(client, "dave", "dave-password")
    assert refused.status_code == 403
    assert "waiting for a moderator" in refused.text
    moderator = await browser("approval")
    await log_in(moderator, "mod", "mod-password")
    page = await moderator.get("/admin")
    assert 'id="registration-dave"' in page.text
    decided = await moderator.post(
        f"/admin/registrations/{user.id}", data={"csrf": csrf_of(page.text), "decision": "approve"}
    )
    assert decided.status_code == 303
    assert (await log_in(client, "dave", "dave-password")).status_code == 303


async def test_signup_closed__is_refused(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    client = await browser("closed")
    response = await post_form(client, "/login", "/signup", {"username": "erin", "password": "erin-password"})
    assert response.status_code == 422
    assert "closed" in response.text
    assert await _user(sessions, "erin") is None


async def test_signup__bad_username_is_a_4xx_with_the_reason(browser: Browser) -> None:
    client = await browser("open")
    response = await post_form(client, "/signup", "/signup", {"username": "No Spaces", "password": "long-enough"})
    assert response.status_code == 422
    assert "lowercase letters" in response.text


async def test_login_and_logout(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    client = await browser()
    assert (await log_in(client, "alice", "wrong-password")).status_code == 401
    response = await log_in(client, "alice", "alice-password")
    assert response.status_code == 303
    home = await client.get("/home")
    assert home.status_code == 200
    assert home.headers["cache-control"] == "private, no-store"
    out = await post_form(client, "/home", "/logout", {})
    assert out.status_code == 303
    async with sessions() as session:
        assert (await session.scalars(select(WebSession))).all() == []
    assert (await client.get("/home")).status_code == 303


async def test_login__next_is_local_only(browser: Browser) -> None:
    client = await browser()
    form = await client.get("/login")
    data = {"username": "alice", "password": "alice-password", "csrf": csrf_of(form.text)}
    response = await client.post("/login", data={**data, "next": "//evil.example/"})
    assert response.headers["location"] == "/"


async def test_csrf__forms_without_the_token_are_refused(browser: Browser) -> None:
    client = await browser()
    await client.get("/login")
    refused = await client.post("/login", data={"username": "alice", "password": "alice-password"})
    assert refused.status_code == 403
    assert "expired or came from another site" in refused.text
    wrong = await client.post("/login", data={"username": "alice", "password": "alice-password", "csrf": "x" * 43})
    assert wrong.status_code == 403
    assert (await log_in(client, "alice", "alice-password")).status_code == 303
    for action in ("/logout", "/compose/post", "/follow"):
        refused = await client.post(action, data={"text": "forged"})
        assert refused.status_code == 403, action
    assert (await client.get("/home")).status_code == 200, "still logged in: the forged log-out was refused"


async def test_csrf__the_anonymous_token_is_not_the_session_token(browser: Browser) -> None:
    client = await browser()
    anonymous = csrf_of((await client.get("/login")).text)
    await log_in(client, "alice", "alice-password")
    refused = await client.post("/logout", data={"csrf": anonymous})
    assert refused.status_code == 403


async def test_login_limiter__locks_out_after_ten_failures(browser: Browser) -> None:
    client = await browser()
    for _ in range(10):
        assert (await log_in(client, "alice", "guess")).status_code == 401
    limited = await log_in(client, "alice", "alice-password")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "Too many attempts" in limited.text


async def test_login_limiter__a_success_before_the_limit_resets_it(browser: Browser) -> None:
    client = await browser()
    for _ in range(9):
        assert (await log_in(client, "alice", "guess")).status_code == 401
    assert (await log_in(client, "alice", "alice-password")).status_code == 303
    client.cookies.clear()
    for _ in range(9):
        assert (await log_in(client, "alice", "guess")).status_code == 401
    assert (await log_in(client, "alice", "alice-password")).status_code == 303
