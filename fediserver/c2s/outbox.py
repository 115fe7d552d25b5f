"""``POST /users/{username}/outbox``: ActivityPub §6 client-to-server submission.

Authenticated by an OAuth bearer token of the outbox's owner (FEP-d8c2; the tokens of the Mastodon
API) with the scope Mastodon asks for the same action. 401 without a valid token, 403 for another
user's outbox, a missing scope or another actor; 400 with the reason for what we will not take; 413 for
a body over the limit; an ``Idempotency-Key`` seen with this token in the last hour answers the
first activity's 201 again (``c2s.idempotency``); else 201 with ``Location`` of the new activity once it is
stored and its delivery queued.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.c2s import idempotency
from fediserver.c2s.context import Outbox
from fediserver.c2s.handlers import HANDLERS, SCOPES, undone
from fediserver.c2s.problems import problem_json
from fediserver.c2s.submission import BadActivity, WrongActor, parse_submission
from fediserver.domain.services import Services
from fediserver.errors import AppError, Conflict, InvalidInput
from fediserver.mastodon.auth import Forbidden, caller
from fediserver.routes.responses import BodyTooLarge, read_capped

MAX_BODY = 1_000_000
JSON_TYPES = ("application/activity+json", "application/ld+json", "application/json")


class UnsupportedMediaType(AppError):
    status_code = 415


class TooLarge(AppError):
    status_code = 413


async def post_outbox(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in JSON_TYPES:
        raise UnsupportedMediaType(f"Content-Type: expected {JSON_TYPES[1]} (ActivityPub §6)")
    try:
        body = await read_capped(request, MAX_BODY)
    except BodyTooLarge:
        raise TooLarge(f"body: at most {MAX_BODY} bytes") from None
    svc: Services = request.app.state.services
    async with request.app.state.sessions() as session:
        found = await caller(request, session)
        me = found.actor
        if me.username != request.path_params["username"]:
            raise WrongActor("this token may only post to its own user's outbox")
        key = idempotency.checked_key(request.headers.get("idempotency-key"))
        if key is not None:
            repeated = await idempotency.earlier(session, found.token.id, key)
            if repeated is not None:
                return Response(status_code=201, headers={"Location": repeated})
        box = Outbox(svc, session, me)
        sub = parse_submission(body, box.me_uri)
        kind = (await undone(box, sub))[0] if sub.type == "Undo" else sub.type
        if not found.scopes.allows(SCOPES[kind]):
            raise Forbidden(f"This action is outside the authorized scopes ({SCOPES[kind]})")
        try:
            location = await HANDLERS[sub.type](box, sub)
        except InvalidInput as exc:
            # The domain answers the Mastodon API's 422; ActivityPub clients are told 400 (c2s.md §1.1).
            raise BadActivity(exc.message) from None
        token_id = found.token.id
        if key is not None and not await idempotency.record(session, token_id, key, location):
            # A concurrent request with this key wrote first: its activity stands, this one is undone
            # (the rollback expires every loaded row, hence ``token_id`` read before it).
            await session.rollback()
            repeated = await idempotency.earlier(session, token_id, key)
            if repeated is None:
                raise Conflict("Idempotency-Key: a request with this key is still being processed")
            return Response(status_code=201, headers={"Location": repeated})
        await session.commit()
    return Response(status_code=201, headers={"Location": location})


routes = [Route("/users/{username}/outbox", problem_json(post_outbox), methods=["POST"])]
