"""Invite links in the browser: members (or only moderators, per ``instance.invites``) create them, see
their own, and revoke them; moderators see and revoke every invite (``fediserver.domain.invites``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fediserver.domain import invites
from fediserver.errors import AppError, InvalidInput
from fediserver.web.context import Forbidden, Viewer, checked_form, page, redirect, render, require_viewer, web
from fediserver.web.pages import services
from fediserver.web.strings import STRINGS


def _allowed(me: Viewer, request: Request) -> bool:
    return invites.may_invite(me.user, web(request).settings.instance.invites)


async def _page(request: Request, me: Viewer, status: int = 200, error: str | None = None) -> Response:
    async with request.app.state.sessions() as session:
        found = await invites.list_invites(session, None if me.user.is_moderator else me.user)
    urls = services(request).urls
    rows = [(invite, urls.invite(invite.code), invites.usable(invite)) for invite in found]
    return await render(request, "invites.html", status, error=error, rows=rows, allowed=_allowed(me, request))


@page
async def listing(request: Request) -> Response:
    me = await require_viewer(request)
    return await _page(request, me)


def _optional_number(text: str, label: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{label}: a number, or empty") from None


@page
async def create(request: Request) -> Response:
    me = await require_viewer(request)
    form = await checked_form(request, me)
    if not _allowed(me, request):
        raise Forbidden(STRINGS["invites_not_allowed"])
    async with request.app.state.sessions() as session:
        try:
            uses = _optional_number(form.get("max_uses"), "number of uses")
            if uses is not None and not uses.is_integer():
                raise InvalidInput("number of uses: a whole number, or empty")
            days = _optional_number(form.get("days"), "expires after")
            await invites.create_invite(session, me.user, max_uses=int(uses) if uses is not None else None, days=days)
        except AppError as exc:
            return await _page(request, me, exc.status_code, exc.message)
        await session.commit()
    return redirect(str(request.app.url_path_for("invites")))


@page
async def revoke(request: Request) -> Response:
    me = await require_viewer(request)
    await checked_form(request, me)
    async with request.app.state.sessions() as session:
        await invites.revoke_invite(session, int(request.path_params["invite_id"]), me.user)
        await session.commit()
    return redirect(str(request.app.url_path_for("invites")))
