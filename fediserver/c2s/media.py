"""``endpoints.uploadMedia``: an ActivityPub client uploads an image (SocialCG MediaUpload report, c2s.md §2.1).

An authenticated ``multipart/form-data`` POST with ``file`` (the bytes) and ``object`` (a shell AS2 object;
its ``name`` is the alt text), or Pleroma's plain ``description``. The image is cleaned and stored like
every upload (``ingest_upload`` via the Mastodon API's ``upload_media``: one code path) and published
nowhere until a Create names it. Answers 201 with ``Location`` and the completed ``Image`` in the body;
its ``id`` (the ``Location``) serves that Image as AS2 and its ``url`` is the file; a Note's ``attachment``
names either. 413 over ``media.max_upload_bytes``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import activitypub as ap
from fediserver.c2s.outbox import TooLarge
from fediserver.c2s.problems import problem_json
from fediserver.c2s.submission import LIMITS, BadActivity, WrongActor
from fediserver.domain.services import Services
from fediserver.errors import InvalidInput
from fediserver.mastodon import actions
from fediserver.mastodon.auth import caller
from fediserver.mastodon.entities.instance import DESCRIPTION_LIMIT
from fediserver.mastodon.params import read_params
from fediserver.models import MediaAttachment
from fediserver.routes.responses import as2
from fediserver.urls import Urls


def _alt(shell: str | None, description: str | None) -> str:
    alt = description or ""
    if shell:
        try:
            doc = ap.loads_bounded(shell, LIMITS)
        except ap.MalformedDocument as exc:
            raise BadActivity(f"object: {exc}") from None
        if not isinstance(doc, dict):
            raise BadActivity("object: one JSON object is required")
        if doc.get("type", "Image") != "Image":
            raise BadActivity("object: only Image can be uploaded")
        name = doc.get("name")
        if name is not None and not isinstance(name, str):
            raise BadActivity("object.name: a string is required")
        alt = name or alt
    if len(alt) > DESCRIPTION_LIMIT:
        raise BadActivity(f"object.name: at most {DESCRIPTION_LIMIT} characters")
    return alt


def image_to_as(row: MediaAttachment, urls: Urls, username: str) -> dict[str, Any]:
    """The upload as an AS2 ``Image``: its id is served as AS2 (``c2s.activities``), its ``url`` is the file."""
    # An upload is always stored here; only remote attachments lack a storage key.
    assert row.storage_key is not None
    url = urls.media(row.storage_key)
    return {
        "@context": ap.AS_CONTEXT,
        "id": urls.media_object(username, row.storage_key),
        "type": "Image",
        "mediaType": row.media_type,
        "url": url,
        "name": row.description or None,
        "width": row.width,
        "height": row.height,
        "blurhash": row.blurhash,
    }


async def upload_media(request: Request) -> Response:
    limit = request.app.state.settings.media.max_upload_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + 65536:
        raise TooLarge(f"media-too-large: at most {limit} bytes")
    svc: Services = request.app.state.services
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:media")
        if found.actor.username != request.path_params["username"]:
            raise WrongActor("this token may only upload for its own user")
        params = await read_params(request)
        upload, shell_file = params.file("file"), params.file("object")
        try:
            data = await upload.read(limit + 1) if upload is not None else b""
            # Some clients send ``object`` as a part with a filename and application/json.
            shell = (await shell_file.read(LIMITS.max_string)).decode("utf-8", "replace") if shell_file else None
        finally:
            await params.close()
        if not data:
            raise BadActivity("file: the image is required")
        if len(data) > limit:
            raise TooLarge(f"media-too-large: at most {limit} bytes")
        alt = _alt(shell or params.text("object"), params.text("description"))
        try:
            row = await actions.upload_media(svc, session, found.actor, data, alt, (0.0, 0.0))
        except InvalidInput as exc:
            raise BadActivity(exc.message) from None
        await session.commit()
    doc = image_to_as(row, svc.urls, found.actor.username)
    answer = as2(doc, status=201)
    answer.headers["Location"] = doc["id"]
    return answer


routes = [Route("/users/{username}/uploadMedia", problem_json(upload_media), methods=["POST"])]
