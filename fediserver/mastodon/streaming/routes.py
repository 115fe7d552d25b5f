"""``/api/v1/streaming``: Server-Sent Events per stream, and one WebSocket for many (MD:/methods/streaming/).

SSE events are ``event: <name>`` + ``data: <payload on one line>`` with ``:thump`` heartbeats; Mastodon.py
splits on ``": "`` and ``json.loads`` every data line. WebSocket frames are ``{"stream": [name, param],
"event": …, "payload": "<JSON string>"}`` (masto.js drops events whose ``stream`` lacks the tag: clients.md
rows 18-19); the token may come in ``Sec-WebSocket-Protocol``, which is then echoed (row 17).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fediserver.errors import AppError, InvalidInput
from fediserver.mastodon.auth import Caller, Unauthorized, caller
from fediserver.mastodon.streaming.broker import Broker, StreamEvent, Subscription
from fediserver.mastodon.streaming.render import render, wire_event
from fediserver.mastodon.streaming.sse import response as sse_response

STREAMS = frozenset(
    {
        "user",
        "user:notification",
        "public",
        "public:media",
        "public:local",
        "public:local:media",
        "public:remote",
        "public:remote:media",
        "hashtag",
        "hashtag:local",
        "list",
        "direct",
    }
)


def stream_key(name: str, param: str | None, actor_id: int) -> tuple[str, list[str]]:
    """(broker key, the ``stream`` array events carry) for a subscription; 400-style error if invalid."""
    if name not in STREAMS:
        raise InvalidInput(f"Unknown stream type {name!r}")
    if name in ("hashtag", "hashtag:local"):
        if not param:
            raise InvalidInput("Missing tag name parameter")
        return f"{name}:{param.lower()}", [name, param]
    if name == "list":
        if not param:
            raise InvalidInput("Missing list parameter")
        return f"list:{param}", [name, param]
    if name in ("user", "user:notification", "direct"):
        return f"{name}:{actor_id}", [name]
    return name, [name]


async def _authenticate(conn: HTTPConnection, protocol_token: str | None = None) -> Caller:
    headers = list(conn.scope["headers"])
    if protocol_token and "authorization" not in conn.headers and "access_token" not in conn.query_params:
        headers.append((b"authorization", f"Bearer {protocol_token}".encode()))
    # The token checks read headers and query only; a WebSocket scope is viewed as an HTTP one for them.
    request = Request({**conn.scope, "type": "http", "headers": headers})
    async with conn.app.state.sessions() as session:
        found = await caller(request, session)
        if not (found.scopes.allows("read:statuses") or found.scopes.allows("read:notifications")):
            raise AppError("This action is outside the authorized scopes")
        return found


async def _render(conn: HTTPConnection, found: Caller, event: StreamEvent) -> str | None:
    """The event's payload for this viewer, or None when it may not see it (``render.render``)."""
    if event.event == "notification" and not found.scopes.allows("read:notifications"):
        return None
    if event.event != "notification" and not found.scopes.allows("read:statuses"):
        return None
    async with conn.app.state.sessions() as session:
        return await render(session, conn.app.state.services, found.actor, event)


async def sse(request: Request) -> Response:
    name = request.path_params["stream"].strip("/").replace("/", ":")
    if name.startswith("public") and request.query_params.get("only_media", "").lower() in ("true", "1"):
        name += ":media"
    found = await _authenticate(request)
    key, label = stream_key(name, request.query_params.get("tag") or request.query_params.get("list"), found.actor.id)
    broker: Broker = request.app.state.broker

    async def payload(event: StreamEvent) -> str | None:
        return await _render(request, found, event)

    return sse_response(broker, {key: label}, payload, name=wire_event)


async def websocket(ws: WebSocket) -> None:
    offered = ws.headers.get("sec-websocket-protocol")
    protocol = offered.split(",")[0].strip() if offered else None
    try:
        found = await _authenticate(ws, protocol)
    except AppError as exc:
        await ws.close(code=4001 if isinstance(exc, Unauthorized) else 4003, reason=exc.message[:100])
        return
    await ws.accept(subprotocol=protocol)
    broker: Broker = ws.app.state.broker
    sub = broker.subscribe()
    try:
        initial = ws.query_params.get("stream")
        if initial:
            await _change(ws, sub, found, {"type": "subscribe", "stream": initial, **dict(ws.query_params)})
        reader = asyncio.create_task(_read(ws, sub, found))
        try:
            while True:
                item = await sub.next()
                if item is None:
                    break
                event, label = item
                payload = await _render(ws, found, event)
                if payload is not None:
                    await ws.send_text(json.dumps({"stream": label, "event": wire_event(event), "payload": payload}))
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await reader
        with contextlib.suppress(RuntimeError):
            await ws.close(code=1013, reason="too far behind")
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        broker.unsubscribe(sub)


async def _change(ws: WebSocket, sub: Subscription, found: Caller, message: dict[str, Any]) -> None:
    try:
        key, label = stream_key(
            str(message.get("stream", "")), message.get("tag") or message.get("list"), found.actor.id
        )
    except InvalidInput as exc:
        await ws.send_text(json.dumps({"error": exc.message, "status": 400}))
        return
    if message.get("type") == "unsubscribe":
        sub.keys.pop(key, None)
    else:
        sub.keys[key] = label


async def _read(ws: WebSocket, sub: Subscription, found: Caller) -> None:
    """Client frames: ``{"type": "subscribe"|"unsubscribe", "stream": …, "tag"/"list": …}``."""
    try:
        while True:
            text = await ws.receive_text()
            try:
                message = json.loads(text)
            except (ValueError, RecursionError):
                await ws.send_text(json.dumps({"error": "Invalid JSON", "status": 400}))
                continue
            if isinstance(message, dict) and message.get("type") in ("subscribe", "unsubscribe"):
                await _change(ws, sub, found, message)
    except WebSocketDisconnect:
        sub.cut_off.set()


routes = [
    Route("/api/v1/streaming/{stream:path}", sse),
    WebSocketRoute("/api/v1/streaming", websocket),
    WebSocketRoute("/api/v1/streaming/", websocket),
]
