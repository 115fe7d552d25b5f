"""C2S refusals as RFC 9457 problem details with FEP-c180's types (``application/problem+json``).

Every C2S endpoint (outbox, ``uploadMedia``, ``proxyUrl``, the owner's inbox) answers a refusal with
``type``, ``title``, ``detail`` and ``status``. The HTTP status is the one the endpoint always gave
(c2s.md §7); ``type`` is FEP-c180's when the refusal is one it names (``unsupported-type``,
``object-does-not-exist``, ``redundant-activity``, ``principal-actor-mismatch``, the ``*-not-authorized``
family, ``media-too-large``), else ``about:blank`` as RFC 9457 §4.2.1 says. Where FEP-c180 and our
status differ we keep ours and say so in FEDERATION.md: ``principal-actor-mismatch`` is 403 (as FEP-ae97
answers it), ``redundant-activity`` is 409 (a repeated Like, Announce or Follow: the Mastodon API's
conflict for the same domain refusal).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import Response

from fediserver.errors import AppError, Conflict

FEP_C180 = "https://w3id.org/fep/c180#"
PROBLEM_JSON = "application/problem+json"
NAMED = (
    "unsupported-type",
    "object-does-not-exist",
    "redundant-activity",
    "principal-actor-mismatch",
    "actor-not-authorized",
    "principal-not-authorized",
    "client-not-authorized",
    "media-too-large",
    "rate-limit-exceeded",
)
# What a refusal without a named prefix is, by status (FEP-c180 "Problem types").
BY_STATUS = {403: "principal-not-authorized", 404: "object-does-not-exist", 409: "redundant-activity"}

Endpoint = Callable[[Request], Awaitable[Response]]


def problem_type(exc: AppError) -> tuple[str, str]:
    """(type IRI, detail) of a refusal: a ``name: reason`` message names its FEP-c180 type."""
    name, sep, rest = exc.message.partition(": ")
    if sep and name in NAMED:
        return FEP_C180 + name, rest
    if "scope" in exc.message and exc.status_code == 403:
        return FEP_C180 + "client-not-authorized", exc.message
    if isinstance(exc, Conflict) or exc.status_code in BY_STATUS:
        return FEP_C180 + BY_STATUS[exc.status_code], exc.message
    return "about:blank", exc.message


def problem(exc: AppError) -> Response:
    """The RFC 9457 body of ``exc`` with its status; ``title`` is the status's reason phrase."""
    kind, detail = problem_type(exc)
    body = {"type": kind, "title": HTTPStatus(exc.status_code).phrase, "detail": detail, "status": exc.status_code}
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return Response(json.dumps(body), status_code=exc.status_code, media_type=PROBLEM_JSON, headers=headers)


def problem_json(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` with its `AppError` refusals answered as problem details instead of ``{"error"}``."""

    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except AppError as exc:
            return problem(exc)

    return wrapped
