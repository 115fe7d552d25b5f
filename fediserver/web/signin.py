"""Sign-up (per ``instance.registration``), log-in (rate-limited per address and username) and log-out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fediserver.domain import invites, site
from fediserver.errors import AppError
from fediserver.logins import check_credentials
from fediserver.web import actions
from fediserver.web.context import checked_form, page, redirect, render, require_viewer, viewer, web
from fediserver.web.strings import STRINGS
from fediserver.websessions import end_session, start_session


def _next(value: str) -> str:
    """Only a local path: an open redirect would let another site borrow our login page."""
    return value if value.startswith("/") and not value.startswith(("//", "/\\")) else "/"


@page
async def login_form(request: Request) -> Response:
    if await viewer(request) is not None:
        return redirect("/")
    return await render(
        request, "login.html", error=None, username="", next=_next(request.query_params.get("next", "/"))
    )


@page
async def login(request: Request) -> Response:
    form = await checked_form(request, None)
    username, password = form.get("username").lower(), form.raw("password")
    target = _next(form.get("next"))
    ui = web(request)
    keys = (f"ip:{request.client.host if request.client else '-'}", f"user:{username}")
    wait = ui.limiter.retry_after(*keys)
    if wait is not None:
        error = STRINGS["login_limited"].format(minutes=max(1, round(wait / 60)))
        response = await render(request, "login.html", 429, error=error, username=username, next=target)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    async with request.app.state.sessions() as session:
        user = await check_credentials(session, username, password)
        if user is None:
            ui.limiter.failed(*keys)
            return await render(
                request, "login.html", 401, error=STRINGS["login_wrong"], username=username, next=target
            )
        ui.limiter.succeeded(*keys)
        if user.actor.suspended_at is not None:
            await session.commit()
            return await render(
                request, "login.html", 403, error=STRINGS["login_suspended"], username=username, next=target
            )
        if not user.is_approved:
            await session.commit()
            return await render(
                request, "login.html", 403, error=STRINGS["login_unapproved"], username=username, next=target
            )
        response = redirect(target)
        await start_session(session, user, response, ui.cookies, user_agent=request.headers.get("user-agent", ""))
        await session.commit()
    return response


@page
async def logout(request: Request) -> Response:
    who = await require_viewer(request)
    await checked_form(request, who)
    response = redirect("/")
    async with request.app.state.sessions() as session:
        await end_session(session, request, response, web(request).cookies)
        await session.commit()
    return response


@page
async def signup_form(request: Request) -> Response:
    return await render(request, "signup.html", error=None, username="", done=False, invite_code=None)


@page
async def invite_form(request: Request) -> Response:
    """``/invite/CODE``: the sign-up form, whatever the registration mode; 410 for a spent invite."""
    code = request.path_params["code"]
    async with request.app.state.sessions() as session:
        await invites.valid_invite(session, code)
    return await render(request, "signup.html", error=None, username="", done=False, invite_code=code)


@page
async def invite_signup(request: Request) -> Response:
    form = await checked_form(request, None)
    code = request.path_params["code"]
    username, password = form.get("username").lower(), form.raw("password")
    ui = web(request)
    async with request.app.state.sessions() as session:
        try:
            user = await invites.sign_up_with_invite(session, code, username, password)
        except AppError as exc:
            return await render(
                request,
                "signup.html",
                exc.status_code,
                error=exc.message,
                username=username,
                done=False,
                invite_code=code,
            )
        response = redirect("/home")
        await start_session(session, user, response, ui.cookies, user_agent=request.headers.get("user-agent", ""))
        await session.commit()
    return response


@page
async def signup(request: Request) -> Response:
    form = await checked_form(request, None)
    ui = web(request)
    username, password = form.get("username").lower(), form.raw("password")
    async with request.app.state.sessions() as session:
        mode = (await site.effective(session, ui.settings)).instance.registration
        try:
            user = await actions.sign_up(session, mode, username, password)
        except AppError as exc:
            return await render(
                request,
                "signup.html",
                exc.status_code,
                error=exc.message,
                username=username,
                done=False,
                invite_code=None,
            )
        if not user.is_approved:
            await session.commit()
            return await render(request, "signup.html", 201, error=None, username=username, done=True, invite_code=None)
        response = redirect("/home")
        await start_session(session, user, response, ui.cookies, user_agent=request.headers.get("user-agent", ""))
        await session.commit()
    return response
