"""Members' actions on one post: reply, boost and unboost, bookmark and unbookmark, edit; the bookmarks page.

Each is a form posted with the session's CSRF token and goes through the domain layer
(``domain.posts``, ``domain.reactions``, ``domain.bookmarks``), as the Mastodon API and C2S do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from fediserver.domain import bookmarks, edit_media, posts, reactions
from fediserver.domain.services import Services
from fediserver.errors import AppError, Conflict, InvalidInput, NotFound
from fediserver.models import LocalActor, Note
from fediserver.web import actions
from fediserver.web.cards import post_cards
from fediserver.web.context import Viewer, checked_form, page, redirect, render, require_viewer
from fediserver.web.pages import services
from fediserver.web.strings import STRINGS

BOOKMARKS_PAGE = 40
Toggle = Callable[[Services, AsyncSession, LocalActor, str], Awaitable[object]]


def _visibility(value: str) -> str:
    if value not in ("public", "unlisted", "followers"):
        raise InvalidInput("visibility: public, unlisted or followers")
    return value


async def _visible_note(request: Request, session: AsyncSession, who: Viewer) -> Note:
    """The post named in the path, if this viewer may see it (``domain.posts.find_note``), else 404."""
    note = await actions.note_by_id(session, int(request.path_params["note_id"]))
    return await posts.find_note(services(request), session, note.uri, who.actor)


def _back(request: Request, note: Note) -> str:
    """The page the form was on (Referrer-Policy: same-origin sends it), at the post; else its permalink."""
    referer = request.headers.get("referer", "").split("#")[0]
    if referer.startswith(services(request).urls.base + "/"):
        return f"{referer}#post-{note.id}"
    return note.url or note.uri


async def _toggle(request: Request, action: Toggle) -> Response:
    who = await require_viewer(request)
    await checked_form(request, who)
    async with request.app.state.sessions() as session:
        note = await _visible_note(request, session, who)
        # Boosting twice or unboosting what is not boosted (two tabs, a double click): already as asked.
        with contextlib.suppress(Conflict, NotFound):
            await action(services(request), session, who.actor, note.uri)
        await session.commit()
    return redirect(_back(request, note))


@page
async def boost(request: Request) -> Response:
    return await _toggle(request, reactions.boost)


@page
async def unboost(request: Request) -> Response:
    return await _toggle(request, reactions.unboost)


@page
async def bookmark(request: Request) -> Response:
    return await _toggle(request, bookmarks.bookmark)


@page
async def unbookmark(request: Request) -> Response:
    return await _toggle(request, bookmarks.unbookmark)


@page
async def reply(request: Request) -> Response:
    """Publish a reply (``domain.posts.publish_post`` with ``in_reply_to``); the permalink shows it in the thread."""
    who = await require_viewer(request)
    form = await checked_form(request, who)
    async with request.app.state.sessions() as session:
        parent = await _visible_note(request, session, who)
        draft = posts.PostDraft(
            text=form.raw("text"),
            visibility=_visibility(form.get("visibility") or "public"),
            summary=form.get("summary"),
            in_reply_to=parent.uri,
        )
        try:
            note = await posts.publish_post(services(request), session, who.actor, draft)
        except AppError as exc:
            return await render(request, "error.html", exc.status_code, message=exc.message)
        await session.commit()
    return redirect(f"{parent.url or parent.uri}#post-{note.id}")


async def _edit_page(request: Request, who: Viewer, status: int = 200, error: str | None = None) -> Response:
    async with request.app.state.sessions() as session:
        note = await _visible_note(request, session, who)
        if note.local_actor_id != who.actor.id:
            raise NotFound("no such post")
        [card] = await post_cards(session, services(request).urls, [note], who.actor)
        versions = await posts.history(session, note)
    return await render(
        request,
        "edit.html",
        status,
        error=error,
        card=card,
        text_value=note.source_text or "",
        summary=note.summary or "",
        versions=versions,
    )


@page
async def edit_form(request: Request) -> Response:
    return await _edit_page(request, await require_viewer(request))


@page
async def edit(request: Request) -> Response:
    """Change an own post's text, content warning and alt text (``domain.posts.edit_post``: history kept)."""
    who = await require_viewer(request)
    form = await checked_form(request, who)
    alts = [form.get(f"alt-{i}") for i in range(4) if f"alt-{i}" in form.fields]
    if any(not alt for alt in alts):
        return await _edit_page(request, who, 422, STRINGS["compose_alt_required"])
    async with request.app.state.sessions() as session:
        note = await actions.note_by_id(session, int(request.path_params["note_id"]))
        await session.refresh(note, ["attachments"])
        change = posts.PostEdit(
            text=form.raw("text"),
            summary=form.get("summary"),
            sensitive=bool(form.get("sensitive")),
            media_changes=tuple(
                edit_media.MediaChange(media_id=item.id, description=alt)
                for item, alt in zip(note.attachments, alts, strict=False)
            ),
        )
        try:
            await posts.edit_post(services(request), session, who.actor, note.uri, change)
        except AppError as exc:
            if isinstance(exc, NotFound):
                raise
            await session.rollback()
            return await _edit_page(request, who, exc.status_code, exc.message)
        await session.commit()
    return redirect(note.url or note.uri)


@page
async def bookmarks_page(request: Request) -> Response:
    """The viewer's bookmarks, newest bookmark first, paged by bookmark id (``?before=``)."""
    who = await require_viewer(request)
    raw = request.query_params.get("before")
    if raw is not None and not raw.isdigit():
        raise NotFound("before: a bookmark id")
    async with request.app.state.sessions() as session:
        rows = await bookmarks.bookmarked(session, who.actor, limit=BOOKMARKS_PAGE, before_id=int(raw) if raw else None)
        cards = await post_cards(session, services(request).urls, [note for _, note in rows], who.actor)
    more = f"{request.url.path}?before={rows[-1][0].id}" if len(rows) == BOOKMARKS_PAGE else None
    return await render(request, "feed.html", heading=STRINGS["bookmarks_title"], cards=cards, more=more)
