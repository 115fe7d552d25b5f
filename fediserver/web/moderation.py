"""The moderators' users page (suspend, silence, delete; roles for admins) and the admins' instance settings.

Every change goes through ``fediserver.domain.moderation``, ``domain.accounts`` and ``domain.site``, as
``fediserver user ...`` does.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fediserver.domain import accounts as account_cases
from fediserver.domain import moderation, site
from fediserver.errors import AppError, InvalidInput, NotFound
from fediserver.models import ROLES, User
from fediserver.web.context import (
    Forbidden,
    Viewer,
    checked_form,
    page,
    redirect,
    render,
    require_admin,
    require_moderator,
    web,
)
from fediserver.web.pages import services
from fediserver.web.strings import STRINGS

ACTIONS = ("suspend", "unsuspend", "silence", "unsilence", "delete")


async def _users_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    async with request.app.state.sessions() as session:
        users = await moderation.users(session)
    return await render(request, "admin_users.html", status, error=error, users=users, roles=ROLES)


@page
async def users(request: Request) -> Response:
    await require_moderator(request)
    return await _users_page(request)


def _may_act(me: Viewer, target: User) -> None:
    """Nobody acts on their own account here; only admins act on moderators and admins (as Mastodon's
    role hierarchy)."""
    if target.id == me.user.id:
        raise Forbidden("you cannot moderate your own account")
    if target.is_moderator and not me.user.is_admin:
        raise Forbidden("only admins can moderate moderators and admins")


@page
async def act(request: Request) -> Response:
    me = await require_moderator(request)
    form = await checked_form(request, me)
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise NotFound("no such action")
    svc = services(request)
    async with request.app.state.sessions() as session:
        target = await session.get(User, int(request.path_params["user_id"]))
        if target is None:
            raise NotFound("no such user")
        _may_act(me, target)
        try:
            if action == "suspend":
                await moderation.suspend(svc, session, target)
            elif action == "unsuspend":
                await moderation.unsuspend(svc, session, target)
            elif action == "silence":
                await moderation.silence(session, target)
            elif action == "unsilence":
                await moderation.unsilence(session, target)
            else:
                if form.get("confirm") != target.actor.username:
                    raise InvalidInput(STRINGS["admin_delete_mismatch"])
                await account_cases.delete_account(svc, session, target.actor)
        except AppError as exc:
            await session.rollback()
            return await _users_page(request, exc.status_code, exc.message)
        await session.commit()
    return redirect(str(request.app.url_path_for("admin_users")))


@page
async def role(request: Request) -> Response:
    me = await require_admin(request)
    form = await checked_form(request, me)
    async with request.app.state.sessions() as session:
        target = await session.get(User, int(request.path_params["user_id"]))
        if target is None:
            raise NotFound("no such user")
        if target.id == me.user.id:
            raise Forbidden("you cannot change your own role")
        try:
            await moderation.set_role(session, target, form.get("role"))
        except AppError as exc:
            return await _users_page(request, exc.status_code, exc.message)
        await session.commit()
    return redirect(str(request.app.url_path_for("admin_users")))


async def _settings_page(
    request: Request, status: int = 200, error: str | None = None, saved: bool = False
) -> Response:
    async with request.app.state.sessions() as session:
        assist = (await site.effective(session, web(request).settings)).assist
    return await render(
        request, "admin_settings.html", status, error=error, saved=saved, assist_daily_limit=assist.daily_limit
    )


@page
async def settings_form(request: Request) -> Response:
    await require_admin(request)
    return await _settings_page(request)


@page
async def settings_save(request: Request) -> Response:
    me = await require_admin(request)
    form = await checked_form(request, me)
    limits: dict[str, int] = {}
    for key, label in site.DAILY_LIMITS.items():
        if key not in form.fields:
            continue  # a form without the field leaves the limit as it is
        value = form.get(key) or "0"
        if not value.isdigit():
            return await _settings_page(request, 422, f"{label}: a whole number, 0 for no limit")
        limits[key] = int(value)
    changes = {
        "name": form.get("name"),
        "description": form.get("description"),
        "rules": form.raw("rules").splitlines(),
        "registration": form.get("registration"),
        **limits,
    }
    async with request.app.state.sessions() as session:
        try:
            await site.update_instance(session, web(request).settings, changes)
        except AppError as exc:
            return await _settings_page(request, exc.status_code, exc.message)
        await session.commit()
    return await _settings_page(request, saved=True)
