"""AI images over C2S (our extension, FEDERATION.md "Client to server"): a Note whose attachment is an
``Image`` with ``generation`` parameters and no ``url`` asks the server to render the image.

The parameters use the names our Notes publish (``generation_to_as``: ``prompt``, ``seed``, ``model``,
``negativePrompt``, ``steps``, ``guidance``, ``width``, ``height``); the request is resolved and queued
exactly as the generation API queues it (``imagegen.jobs``), with the post's text and visibility, and
the GPU worker publishes the post when the image is ready. The answer is 201 at once, with ``Location``
at the job's status URL, which says ``queued``/``running`` until the post exists.
"""

from __future__ import annotations

from typing import Any

from fediserver.c2s.context import Outbox
from fediserver.c2s.submission import BadActivity
from fediserver.imagegen import jobs

INTS = ("seed", "steps", "width", "height")


def generation_of(note: dict[str, Any]) -> dict[str, Any] | None:
    """The ``generation`` parameters of the Note's one url-less Image attachment, if it asks for one."""
    items = note.get("attachment")
    listed = items if isinstance(items, list) else [items] if items is not None else []
    asks = [i for i in listed if isinstance(i, dict) and "generation" in i and not i.get("url")]
    if not asks:
        return None
    if len(listed) != 1:
        raise BadActivity("attachment: a generated image is the post's only attachment")
    params = asks[0]["generation"]
    if not isinstance(params, dict):
        raise BadActivity("attachment.generation: an object is required")
    return params


def _int(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise BadActivity(f"generation.{key}: an integer is required")
    return value


def _str(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is not None and not isinstance(value, str):
        raise BadActivity(f"generation.{key}: a string is required")
    return value


async def queue_generated_post(box: Outbox, params: dict[str, Any], text: str, visibility: str) -> str:
    """Queue the render-then-publish job; the Location is its status URL."""
    guidance = params.get("guidance")
    if guidance is not None and (not isinstance(guidance, (int, float)) or isinstance(guidance, bool)):
        raise BadActivity("generation.guidance: a number is required")
    settings = box.svc.settings
    request = jobs.build_request(
        settings,
        _str(params, "prompt") or "",
        seed=_int(params, "seed"),
        model=_str(params, "model"),
        negative_prompt=_str(params, "negativePrompt") or "",
        steps=_int(params, "steps"),
        guidance=float(guidance) if guidance is not None else None,
        width=_int(params, "width"),
        height=_int(params, "height"),
    )
    jobs.check_publishable(settings, text or None, visibility)
    job = await jobs.enqueue(
        box.session, box.me, request, post_text=text or None, visibility=visibility, quota=box.svc.settings
    )
    return box.svc.urls.generation(job.token)
