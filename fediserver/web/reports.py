"""A member reports a post to the moderators (``fediserver.domain.moderation.report_note``), and may
have it forwarded to the author's server as a ``Flag``."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from fediserver.domain import moderation
from fediserver.errors import AppError, NotFound
from fediserver.models import Note
from fediserver.notes import may_see
from fediserver.web import actions
from fediserver.web.context import Viewer, checked_form, page, render, require_viewer
from fediserver.web.pages import services
from fediserver.web.strings import STRINGS


def _remote_domain(request: Request, note: Note) -> str | None:
    """The author's server when it is not this one (only then can a report be forwarded)."""
    return None if note.local_actor_id is not None else urlsplit(note.attributed_to).hostname


async def _form(
    request: Request, note: Note, status: int = 200, error: str | None = None, comment: str = ""
) -> Response:
    return await render(
        request,
        "report.html",
        status,
        error=error,
        note=note,
        comment=comment,
        remote_domain=_remote_domain(request, note),
        sent=False,
    )


async def _visible_note(request: Request, session: AsyncSession, me: Viewer) -> Note:
    """The note, if the member may see it; one they may not is reported as absent (its existence is private)."""
    note = await actions.note_by_id(session, int(request.path_params["note_id"]))
    if not await may_see(session, note, services(request).urls.actor(me.actor.username)):
        raise NotFound("no such post")
    return note


@page
async def report_form(request: Request) -> Response:
    me = await require_viewer(request)
    async with request.app.state.sessions() as session:
        note = await _visible_note(request, session, me)
    return await _form(request, note)


@page
async def report(request: Request) -> Response:
    me = await require_viewer(request)
    form = await checked_form(request, me)
    async with request.app.state.sessions() as session:
        note = await _visible_note(request, session, me)
        try:
            await moderation.report_note(
                services(request), session, me.actor, note, form.get("comment"), forward=form.get("forward") == "1"
            )
        except AppError as exc:
            return await _form(request, note, exc.status_code, exc.message, form.get("comment"))
        await session.commit()
    return await render(
        request, "report.html", 201, error=None, note=note, comment="", remote_domain=None, sent=STRINGS["report_sent"]
    )
