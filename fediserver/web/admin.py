"""The moderators' overview: registrations, reports, domain blocks and the GPU worker's state."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fediserver.domain import moderation
from fediserver.errors import AppError
from fediserver.web import actions
from fediserver.web.context import Posted, checked_form, page, redirect, render, require_moderator
from fediserver.web.pages import services


async def _dashboard(request: Request, status: int = 200, error: str | None = None) -> Response:
    async with request.app.state.sessions() as session:
        gpu = await actions.gpu_state(session)
        pending = await actions.pending_users(session)
        reports = await moderation.open_reports(session)
        blocks = await actions.domain_blocks(session)
    return await render(
        request, "admin.html", status, error=error, gpu=gpu, pending=pending, reports=reports, blocks=blocks
    )


def _back(request: Request) -> Response:
    return redirect(str(request.app.url_path_for("admin")))


@page
async def dashboard(request: Request) -> Response:
    await require_moderator(request)
    return await _dashboard(request)


async def _checked(request: Request) -> Posted:
    return await checked_form(request, await require_moderator(request))


@page
async def registration(request: Request) -> Response:
    form = await _checked(request)
    async with request.app.state.sessions() as session:
        await actions.decide_registration(
            session, int(request.path_params["user_id"]), approve=form.get("decision") == "approve"
        )
        await session.commit()
    return _back(request)


@page
async def report(request: Request) -> Response:
    await _checked(request)
    async with request.app.state.sessions() as session:
        await moderation.resolve_report(session, int(request.path_params["report_id"]))
        await session.commit()
    return _back(request)


@page
async def block(request: Request) -> Response:
    form = await _checked(request)
    async with request.app.state.sessions() as session:
        try:
            await actions.block_domain(services(request), session, form.get("domain"), form.get("reason"))
        except AppError as exc:
            return await _dashboard(request, exc.status_code, exc.message)
        await session.commit()
    return _back(request)


@page
async def unblock(request: Request) -> Response:
    form = await _checked(request)
    async with request.app.state.sessions() as session:
        await actions.unblock_domain(services(request), session, form.get("domain"))
        await session.commit()
    return _back(request)
