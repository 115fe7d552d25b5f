"""Responses shared by the ActivityPub routes: AS2 JSON, negotiated HTML, and who is asking."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope

import activitypub as ap
from fediserver.errors import AppError
from fediserver.federation.context import Federation
from fediserver.federation.remote import KeyOwner
from fediserver.federation.verify import BlockedSender, SignedRequest, verify_signed_request
from fediserver.mastodon.auth import optional_caller

AS2_HEADERS = {"Vary": "Accept, Signature"}


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class BodyTooLarge(Exception):
    pass


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refused (``BodyTooLarge``) as soon as it passes ``limit`` bytes, declared or sent."""
    return await read_body(request.receive, request.headers.get("content-length"), limit)


async def read_body(receive: Receive, declared: str | None, limit: int) -> bytes:
    """``read_capped`` on plain ASGI: ``declared`` is the Content-Length header; a sender gone before the
    body ends raises starlette's ``ClientDisconnect``."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def error(status: int, message: str) -> Response:
    """The JSON error body every route answers with: ``{"error": reason}``."""
    return JSONResponse({"error": message}, status_code=status)


def as2(doc: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(doc, status_code=status, media_type=ap.ACTIVITY_JSON, headers=AS2_HEADERS)


def html(page: str, status: int = 200) -> Response:
    return HTMLResponse(page, status_code=status, headers=AS2_HEADERS)


def signed_request(request: Request, body: bytes | None) -> SignedRequest:
    fed: Federation = request.app.state.federation
    return SignedRequest(
        method=request.method, url=signed_url(fed, request.scope), headers=dict(request.headers), body=body
    )


def signed_url(fed: Federation, scope: Scope) -> str:
    """The URL a request's signature covers: our base URL, its path as starlette's ``request.url`` escapes
    it (``?``, ``#`` and ``\\`` inside the path), and its query."""
    path: str = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    query = scope["query_string"].decode("latin-1")
    return fed.urls.base + path + (f"?{query}" if query else "")


async def requester(request: Request, *, required: bool) -> KeyOwner | None:
    """The remote actor who signed this GET, or None when unsigned and ``required`` is false.

    A signature that is present must verify (401 otherwise); a blocked domain gets 403. The
    verification opens short sessions of its own so that no connection is held while a key is
    fetched: call this outside any session that has run a query, for the same reason (issue 8).
    """
    headers = request.headers
    if "signature" not in headers and "signature-input" not in headers:
        if required:
            raise Unauthorized("this server requires signed requests (authorized fetch)")
        return None
    fed: Federation = request.app.state.federation
    try:
        verified = await verify_signed_request(fed, request.app.state.sessions, signed_request(request, None))
    except BlockedSender as exc:
        raise Forbidden(str(exc)) from None
    except ap.ActivityPubError as exc:
        raise Unauthorized(f"signature: {exc}") from None
    return verified.actor


async def token_of(request: Request, session: AsyncSession, local_actor_id: int | None) -> bool:
    """The request carries a bearer token of local actor ``local_actor_id`` with ``read:statuses``:
    an ActivityPub client reading its own private objects and outbox (ActivityPub §5.1, §6)."""
    found = await optional_caller(request, session, "read:statuses")
    return found is not None and found.user is not None and found.actor.id == local_actor_id
