"""Direct-message conversations (MD:/methods/conversations/) from the domain's ``conversations``.

A conversation's id is its root status's id; pages go by the id of each conversation's last status,
which is also what the ``Link`` header carries (Mastodon's ``pagination_max_id``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import conversations
from fediserver.domain.conversations import Conversation
from fediserver.errors import NotFound
from fediserver.mastodon import ids
from fediserver.mastodon.auth import caller
from fediserver.mastodon.entities.conversation import conversation_entity
from fediserver.mastodon.entities.status import status_id
from fediserver.mastodon.http import ok, urls
from fediserver.mastodon.pagination import Page, link_header
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import JSON, Presenter
from fediserver.models import LocalActor, Note


def _number(note: Note) -> int:
    return int(status_id(note))


def _cursor(sid: ids.Snowflake | None) -> int | None:
    return (sid.ms << ids.SEQ_BITS) | sid.seq if sid is not None else None


def _window(found: list[Conversation], page: Page) -> list[Conversation]:
    max_id, since_id, min_id = _cursor(page.max_id), _cursor(page.since_id), _cursor(page.min_id)
    kept = [
        c
        for c in found
        if (max_id is None or _number(c.last) < max_id)
        and (since_id is None or _number(c.last) > since_id)
        and (min_id is None or _number(c.last) > min_id)
    ]
    return kept[-page.limit :] if min_id is not None else kept[: page.limit]


async def _entities(presenter: Presenter, found: list[Conversation]) -> list[JSON]:
    accounts = await presenter.accounts(uri for c in found for uri in c.participants)
    statuses = await presenter.statuses([c.last for c in found])
    by_id = {s["id"]: s for s in statuses}
    return [
        conversation_entity(
            status_id(c.root),
            c.unread,
            [accounts[uri] for uri in c.participants if uri in accounts],
            by_id.get(status_id(c.last)),
        )
        for c in found
    ]


async def index(request: Request) -> Response:
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:statuses")
        me = urls(request).actor(found.actor.username)
        page = _window(await conversations.conversations(session, urls(request), found.actor), Page.from_params(params))
        body = await _entities(Presenter(session, urls(request), me), page)
    link = link_header(request, urls(request), [status_id(c.last) for c in page])
    return ok(body, headers={"Link": link} if link else None)


async def _conversation(request: Request, session: AsyncSession, me: LocalActor) -> Conversation:
    wanted = request.path_params["id"]
    for conversation in await conversations.conversations(session, urls(request), me):
        if status_id(conversation.root) == wanted:
            return conversation
    raise NotFound("Record not found")


async def read(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:conversations")
        me = urls(request).actor(found.actor.username)
        conversation = await _conversation(request, session, found.actor)
        marked = await conversations.mark_read(session, urls(request), found.actor, conversation.root.id)
        await session.commit()
        return ok((await _entities(Presenter(session, urls(request), me), [marked]))[0])


async def remove(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:conversations")
        conversation = await _conversation(request, session, found.actor)
        await conversations.remove(session, urls(request), found.actor, conversation.root.id)
        await session.commit()
    return ok({})


routes = [
    Route("/api/v1/conversations", index),
    # Mastodon.py asks with a trailing slash.
    Route("/api/v1/conversations/", index),
    Route("/api/v1/conversations/{id}/read", read, methods=["POST"]),
    Route("/api/v1/conversations/{id}", remove, methods=["DELETE"]),
]
