"""``endpoints.proxyUrl`` (ActivityPub §4.1): fetch a remote object on the user's behalf.

The client POSTs a form with ``id=<IRI>`` and the user's bearer token (``read:statuses``); the object is
fetched with a GET signed by the user's key, so servers with authorized fetch answer what they would
show that user. It goes through the same outbound guard as every fetch (no private or loopback
addresses unless configured, size and time caps, c2s.md §7 rule 7), so it is neither an SSRF hole nor a
signing oracle for arbitrary hosts' internals. 400 for an IRI we will not fetch, 502 when the remote
server fails, 200 with the document otherwise.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import activitypub as ap
from fediserver.c2s.problems import problem_json
from fediserver.c2s.submission import BadActivity, WrongActor
from fediserver.domain.services import Services
from fediserver.errors import AppError
from fediserver.mastodon.auth import caller
from fediserver.mastodon.params import read_params
from fediserver.routes.responses import as2


class BadGateway(AppError):
    status_code = 502


async def proxy(request: Request) -> Response:
    svc: Services = request.app.state.services
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:statuses")
        me = found.actor
        if me.username != request.path_params["username"]:
            raise WrongActor("this token may only use its own user's proxyUrl")
        params = await read_params(request)
        try:
            url = params.text("id")
        finally:
            await params.close()
    if not url:
        raise BadActivity("id: the IRI to fetch is required")
    try:
        ap.check_url(url, "id")
    except ap.ActivityPubError as exc:
        raise BadActivity(f"id: {exc}") from None
    try:
        doc = await svc.fed.client(svc.fed.signer_for(me)).fetch(url)
    except ap.UnsafeURLError as exc:
        raise BadActivity(f"id: {exc}") from None
    except ap.ActivityPubError as exc:
        raise BadGateway(f"fetching {url} failed: {exc}") from None
    return as2(doc)


routes = [Route("/users/{username}/proxy", problem_json(proxy), methods=["POST"])]
