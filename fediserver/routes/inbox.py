"""Inbox and shared inbox: cap, verify, check origins, persist, 202 (checklist 17, 18, 29–31, 39).

Everything else happens in the worker (``federation.inbound``). A signature we could not verify never
gets 202.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import activitypub as ap
from fediserver.federation.context import Federation
from fediserver.federation.origins import OriginError, check_activity
from fediserver.federation.verify import BlockedSender, verify_signed_request
from fediserver.models import InboundActivity, LocalActor
from fediserver.routes.responses import signed_request

log = logging.getLogger("fediserver.inbox")
ACCEPTED = frozenset({"application/activity+json", "application/ld+json", "application/json"})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class BodyTooLarge(Exception):
    pass


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _receive(request: Request, recipient_username: str | None) -> Response:
    fed: Federation = request.app.state.federation
    limit = fed.settings.server.max_request_bytes
    try:
        body = await _read_capped(request, limit)
    except BodyTooLarge:
        return _error(413, f"body larger than {limit} bytes")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED:
        return _error(415, "Content-Type must be application/activity+json or application/ld+json")
    async with request.app.state.sessions() as session:
        recipient_id = None
        if recipient_username is not None:
            recipient_id = await session.scalar(
                select(LocalActor.id).where(
                    LocalActor.username == recipient_username, LocalActor.actor_type != "Application"
                )
            )
            if recipient_id is None:
                return _error(404, f"no user {recipient_username}")
        try:
            activity = json.loads(body)
        except ValueError as exc:
            return _error(400, f"body is not JSON: {exc}")
        if not isinstance(activity, dict):
            return _error(400, "body is not a JSON object")
        try:
            verified = await verify_signed_request(fed, session, signed_request(request, body))
        except BlockedSender as exc:
            return _error(403, str(exc))
        except ap.RemoteStatusError as exc:
            if exc.status in (404, 410) and _is_self_delete(activity):
                # The actor is gone and we never knew its key: nothing to delete (checklist 40).
                return Response(status_code=202)
            return _error(401, f"signature: cannot fetch the signing key: {exc}")
        except ap.ActivityPubError as exc:
            return _error(401, f"signature: {exc}")
        try:
            check_activity(activity, verified.actor.uri)
        except OriginError as exc:
            return _error(exc.status, str(exc))
        row = InboundActivity(
            activity_id=activity["id"],
            activity_type=ap.get_types(activity)[0][:64],
            actor_uri=verified.actor.uri,
            key_id=verified.key_id,
            recipient_actor_id=recipient_id,
            body=activity,
            state="queued",
            next_attempt_at=fed.clock(),
        )
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            # Already received (a retry or a second shared-inbox copy): accepted once is enough.
            await session.rollback()
            return Response(status_code=202)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return Response(status_code=202)


def _is_self_delete(activity: dict[str, object]) -> bool:
    return ap.has_type(activity, "Delete") and ap.get_id(activity.get("object")) == ap.get_id(activity.get("actor"))


async def shared_inbox(request: Request) -> Response:
    return await _receive(request, None)


async def user_inbox(request: Request) -> Response:
    return await _receive(request, request.path_params["username"])


routes = [
    Route("/inbox", shared_inbox, methods=["POST"]),
    Route("/users/{username}/inbox", user_inbox, methods=["POST"]),
]
