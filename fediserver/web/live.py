"""The web UI's live notifications: Server-Sent Events (WHATWG HTML §9.2) on the streaming broker's
``user:notification`` key for the viewer, the one ``/api/v1/streaming/user/notification`` follows, with the
same relay and subscription code (``mastodon.streaming.sse``); the session cookie authorises it.

Each ``notification`` event's data is ``{"id", "html", "unread"}``: the row as the notifications page
renders it (``_notification.html``) and the nav badge's count. A notification the page would not list
(from a muted or blocked sender) is not sent. EventSource reconnects by itself; events sent meanwhile
are not replayed (as with Mastodon's streaming), so ``app.js`` reloads the list after a reconnect.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from fediserver.domain.notifications import NotificationQuery
from fediserver.mastodon.streaming import sse
from fediserver.mastodon.streaming.broker import StreamEvent
from fediserver.mastodon.streaming.routes import stream_key
from fediserver.models import LocalActor
from fediserver.web.context import unread_notifications, viewer, web
from fediserver.web.people import notification_rows
from fediserver.web.strings import STRINGS


async def notification_payload(request: Request, me: LocalActor, notification_id: int) -> str | None:
    """The event data for one of ``me``'s notifications, or None when the page would not list it."""
    query = NotificationQuery(since_id=notification_id - 1, max_id=notification_id + 1, limit=1)
    async with request.app.state.sessions() as session:
        rows = await notification_rows(request, session, me, query)
        if not rows:
            return None
        unread = await unread_notifications(request, session, me)
    html = web(request).env.get_template("_notification.html").render(n=rows[0])
    return json.dumps({"id": rows[0].id, "html": html, "unread": unread})


async def notifications_stream(request: Request) -> Response:
    """``text/event-stream`` of the viewer's new notifications; 401 with the reason without a session
    (EventSource then stops: it does not retry a non-200 answer)."""
    who = await viewer(request)
    if who is None:
        return PlainTextResponse(STRINGS["live_login_required"], status_code=401)
    me = who.actor
    key, label = stream_key("user:notification", None, me.id)

    async def payload(event: StreamEvent) -> str | None:
        if event.event != "notification":
            return None
        return await notification_payload(request, me, event.subject_id)

    return sse.response(request.app.state.broker, {key: label}, payload)
