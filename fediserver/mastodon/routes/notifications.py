"""Notifications (docs.joinmastodon.org/methods/notifications/): list, get, dismiss, clear, unread count.

Every read goes through ``fediserver.domain.notifications``. Types the server does not produce (``poll``,
``admin.sign_up``, ``severed_relationships``, ...) are accepted in ``types[]`` and ``exclude_types[]`` and
match nothing: Ivory and Phanpy send them, and Mastodon ignores unknown ones. Notifications from muted
(with ``notifications``) and blocked accounts are hidden, as Mastodon's ``NotificationFilter`` does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import notifications
from fediserver.errors import NotFound
from fediserver.mastodon import lookup, rows
from fediserver.mastodon.auth import caller
from fediserver.mastodon.entities.notification import STATUS_TYPES, notification_entity
from fediserver.mastodon.http import ok, services, urls
from fediserver.mastodon.pagination import link_header
from fediserver.mastodon.params import Params, read_params
from fediserver.mastodon.present import Presenter
from fediserver.mastodon.routes.accounts import actor_uri
from fediserver.models import NOTIFICATION_TYPES, Notification

JSON = dict[str, Any]
UNREAD_DEFAULT = 100
UNREAD_MAX = 1000


async def _present(request: Request, session: AsyncSession, me_uri: str, found: list[Notification]) -> list[JSON]:
    """Entities in the order given; one whose account is unknown or whose status the viewer may not see
    (deleted, or private) is left out, as Mastodon drops a notification with its target."""
    presenter = Presenter(session, urls(request), me_uri)
    accounts = await presenter.accounts(n.from_actor_uri for n in found)
    notes = await notifications.notes_of(session, [n for n in found if n.type in STATUS_TYPES], me_uri)
    statuses = {s["uri"]: s for s in await presenter.statuses(list(notes.values()))}
    out = []
    for row in found:
        account = accounts.get(row.from_actor_uri)
        status = statuses.get(row.note_uri or "")
        if account is None or (row.type in STATUS_TYPES and status is None):
            continue
        out.append(notification_entity(row, account, status))
    return out


async def _page(request: Request, params: Params) -> tuple[list[Notification], list[JSON]]:
    """The rows read for this page (newest first) and the entities shown of them."""
    known = set(NOTIFICATION_TYPES)
    asked = params.many("types")
    types = [t for t in asked if t in known]
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:notifications")
        if asked and not types:
            return [], []
        sender = None
        if (account_id := params.text("account_id")) is not None:
            sender = actor_uri(request, await lookup.account(session, account_id))
        window = rows.window(params)
        query = notifications.NotificationQuery(
            types=types,
            exclude_types=[t for t in params.many("exclude_types") if t in known],
            from_actor_uri=sender,
            hidden_senders=await notifications.hidden_senders(services(request), session, found.actor),
            limit=window.limit,
            max_id=window.max_id,
            since_id=window.since_id,
            min_id=window.min_id,
        )
        page = await notifications.list_notifications(session, found.actor, query)
        me_uri = urls(request).actor(found.actor.username)
        return page, await _present(request, session, me_uri, page)


async def index(request: Request) -> Response:
    page, items = await _page(request, await read_params(request))
    # The cursors are those of the rows read, so a page thinned by hidden statuses still moves on.
    return rows.paged_rows(request, items, [r.id for r in page] if items else [])


async def grouped(request: Request) -> Response:
    """GroupedNotificationsResults (MD:/methods/grouped_notifications/): every notification is a group of
    its own (``ungrouped-<id>``), which the docs allow; ``grouped_types[]`` is accepted and groups nothing."""
    page, items = await _page(request, await read_params(request))
    accounts: dict[str, JSON] = {}
    statuses: dict[str, JSON] = {}
    groups = []
    for item in items:
        accounts[item["account"]["id"]] = item["account"]
        group: JSON = {
            "group_key": item["group_key"],
            "notifications_count": 1,
            "type": item["type"],
            "most_recent_notification_id": item["id"],
            "page_min_id": item["id"],
            "page_max_id": item["id"],
            "latest_page_notification_at": item["created_at"],
            "sample_account_ids": [item["account"]["id"]],
        }
        if item.get("status") is not None:
            statuses[item["status"]["id"]] = item["status"]
            group["status_id"] = item["status"]["id"]
        groups.append(group)
    body = {"accounts": list(accounts.values()), "statuses": list(statuses.values()), "notification_groups": groups}
    link = link_header(request, urls(request), [str(r.id) for r in page] if items else [])
    return ok(body, headers={"Link": link} if link else None)


def _row_id(request: Request) -> int:
    text = request.path_params["id"]
    if not text.isdigit() or len(text) > 19:
        raise NotFound("Record not found")
    return int(text)


async def show(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:notifications")
        row = await notifications.get_notification(session, found.actor, _row_id(request))
        items = await _present(request, session, urls(request).actor(found.actor.username), [row])
    if not items:
        raise NotFound("Record not found")
    return ok(items[0])


async def dismiss(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:notifications")
        await notifications.dismiss(session, found.actor, _row_id(request))
        await session.commit()
    return ok({})


async def clear(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:notifications")
        await notifications.clear(session, found.actor)
        await session.commit()
    return ok({})


async def unread_count(request: Request) -> Response:
    params = await read_params(request)
    limit = max(1, min(params.integer("limit") or UNREAD_DEFAULT, UNREAD_MAX))
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:notifications")
        hidden = await notifications.hidden_senders(services(request), session, found.actor)
        count = await notifications.unread_count(session, found.actor, hidden, limit)
    return ok({"count": count})


routes = [
    Route("/api/v1/notifications", index),
    Route("/api/v1/notifications/unread_count", unread_count),
    Route("/api/v1/notifications/clear", clear, methods=["POST"]),
    Route("/api/v1/notifications/{id}", show),
    Route("/api/v1/notifications/{id}/dismiss", dismiss, methods=["POST"]),
    Route("/api/v2/notifications", grouped),
]
