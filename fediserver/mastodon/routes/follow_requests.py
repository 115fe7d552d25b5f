"""Follow requests (docs.joinmastodon.org/methods/follow_requests/): list, authorize, reject.

``:id`` is the requesting account's id; answering goes through ``domain.relations`` (``Accept``/``Reject``
of the Follow). Answering a request that is not pending is a 404, as in Mastodon.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import relations, relationships
from fediserver.mastodon import lookup, rows
from fediserver.mastodon.auth import caller
from fediserver.mastodon.http import ok, services, urls
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import Presenter
from fediserver.mastodon.routes.accounts import actor_uri, relationship


async def index(request: Request) -> Response:
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:follows")
        page = await relationships.follow_requests(services(request), session, found.actor, rows.window(params))
        accounts = await Presenter(session, urls(request), None).accounts(r.follower_uri for r in page)
    shown = [r for r in page if r.follower_uri in accounts]
    return rows.paged_rows(request, [accounts[r.follower_uri] for r in shown], [r.id for r in page] if shown else [])


def _answer(accept: bool) -> Route:
    async def handler(request: Request) -> Response:
        async with request.app.state.sessions() as session:
            found = await caller(request, session, "write:follows")
            target = await lookup.account(session, request.path_params["id"])
            uri = actor_uri(request, target)
            if accept:
                await relations.accept_follow_request(services(request), session, found.actor, uri)
            else:
                await relations.reject_follow_request(services(request), session, found.actor, uri)
            await session.commit()
            return ok(await relationship(request, session, found.actor, target, request.path_params["id"]))

    name = "authorize" if accept else "reject"
    return Route(f"/api/v1/follow_requests/{{id}}/{name}", handler, methods=["POST"])


routes = [Route("/api/v1/follow_requests", index), _answer(True), _answer(False)]
