"""Server-Sent Events from the broker (WHATWG HTML §9.2, "Server-sent events"): one subscription, a
comment as heartbeat, and each event rendered for its viewer by the caller.

``/api/v1/streaming/*`` (Mastodon's JSON payloads) and the web UI's notification stream (HTML fragments)
both answer with :func:`response`, so subscription, heartbeats, cut-off and clean-up exist once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.responses import StreamingResponse

from fediserver.mastodon.streaming.broker import Broker, StreamEvent, Subscription

HEARTBEAT_SECONDS = 15.0
Render = Callable[[StreamEvent], Awaitable[str | None]]
Name = Callable[[StreamEvent], str]


def stored_name(event: StreamEvent) -> str:
    """The event's own name, as stored."""
    return event.event


async def frames(
    broker: Broker, sub: Subscription, render: Render, heartbeat: float, name: Name = stored_name
) -> AsyncIterator[str]:
    """``event: <name>`` / ``data: <payload>`` frames (payloads are one line), ``:thump`` after ``heartbeat``
    quiet seconds; ends when the broker cuts the client off, and always unsubscribes."""
    try:
        yield ":)\n\n"
        while True:
            try:
                item = await asyncio.wait_for(sub.next(), heartbeat)
            except TimeoutError:
                yield ":thump\n\n"
                continue
            if item is None:
                return
            payload = await render(item[0])
            if payload is not None:
                yield f"event: {name(item[0])}\ndata: {payload}\n\n"
    finally:
        broker.unsubscribe(sub)


def response(
    broker: Broker,
    keys: dict[str, list[str]],
    render: Render,
    heartbeat: float = HEARTBEAT_SECONDS,
    name: Name = stored_name,
) -> StreamingResponse:
    """The stream of the events for ``keys`` (broker key → its ``stream`` label), each event sent under
    ``name(event)``. The subscription starts before the response does, so a client that saw the response
    open misses nothing sent after."""
    sub = broker.subscribe()
    sub.keys.update(keys)
    return StreamingResponse(
        frames(broker, sub, render, heartbeat, name),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
