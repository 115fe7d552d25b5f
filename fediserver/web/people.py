"""Notifications and search, for members.

The notifications page lists what ``domain.notifications`` lists for the API (muted and blocked senders
left out); ``web.live`` streams each new one as the same ``_notification.html`` row, so ``app.js`` adds
it without a reload. With JavaScript off the page still works, reloaded by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from fediserver.domain import notifications, search
from fediserver.domain.notifications import NotificationQuery
from fediserver.models import LocalActor
from fediserver.web.cards import Author, authors
from fediserver.web.context import checked_form, page, redirect, render, require_viewer
from fediserver.web.pages import services
from fediserver.web.strings import STRINGS

PAGE_SIZE = 40


@dataclass(frozen=True)
class NotificationRow:
    id: int
    text: str
    who: Author
    note_url: str | None
    unread: bool
    created_at: datetime


def _describe(type_: str, name: str) -> str:
    key = f"notification_{type_}"
    if key in STRINGS:
        return STRINGS[key].format(name=name)
    return STRINGS["notification_other"].format(name=name, type=type_)


async def notification_rows(
    request: Request, session: AsyncSession, me: LocalActor, query: NotificationQuery
) -> list[NotificationRow]:
    """The rows ``query`` lists for ``me`` (senders they muted or blocked left out), ready to render."""
    svc = services(request)
    hidden = await notifications.hidden_senders(svc, session, me)
    rows = await notifications.list_notifications(session, me, replace(query, hidden_senders=hidden))
    names = await authors(session, svc.urls, {r.from_actor_uri for r in rows})
    return [
        NotificationRow(
            id=row.id,
            text=_describe(row.type, names[row.from_actor_uri].name),
            who=names[row.from_actor_uri],
            note_url=row.note_uri,
            unread=row.read_at is None,
            created_at=row.created_at,
        )
        for row in rows
    ]


@page
async def notifications_page(request: Request) -> Response:
    """The viewer's notifications, newest first, unread ones marked (``domain.notifications``)."""
    who = await require_viewer(request)
    async with request.app.state.sessions() as session:
        items = await notification_rows(request, session, who.actor, NotificationQuery(limit=PAGE_SIZE))
    return await render(request, "notifications.html", items=items)


@page
async def notifications_read(request: Request) -> Response:
    """Mark every notification read, up to the newest one the page showed (``up_to``)."""
    who = await require_viewer(request)
    form = await checked_form(request, who)
    up_to = form.get("up_to")
    async with request.app.state.sessions() as session:
        await notifications.mark_read(session, who.actor, int(up_to) if up_to.isdigit() else None)
        await session.commit()
    return redirect(str(request.app.url_path_for("notifications")))


@page
async def search_page(request: Request) -> Response:
    """Accounts (local, known, or looked up by handle or URL) and tags; remote accounts can be followed
    from here (the form posts to ``/follow``: ``domain.relations.follow``)."""
    who = await require_viewer(request)
    query = request.query_params.get("q", "").strip()[:500]
    urls = services(request).urls
    async with request.app.state.sessions() as session:
        found = await search.search(services(request), session, query)
        await session.commit()
    local = [(actor, urls.handle(actor.username), urls.profile(actor.username)) for actor in found.local]
    return await render(
        request,
        "search.html",
        query=query,
        found=found,
        local=local,
        me_uri=urls.actor(who.actor.username),
    )
