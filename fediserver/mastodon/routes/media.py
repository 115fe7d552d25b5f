"""Media (docs.joinmastodon.org/methods/media/): v2 and v1 upload, get, update description and focus.

Images are processed while the request waits, so uploads answer 200 with ``url`` set and ``GET`` finds
them at once (masto.js polls ``GET /api/v1/media/:id`` after every upload: clients.md §5).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.errors import InvalidInput, NotFound
from fediserver.mastodon import actions, lookup
from fediserver.mastodon.auth import caller
from fediserver.mastodon.entities.instance import DESCRIPTION_LIMIT
from fediserver.mastodon.entities.media_attachment import media_entity
from fediserver.mastodon.http import ok, services, urls
from fediserver.mastodon.params import Params, read_params


def _focus(params: Params) -> tuple[float, float] | None:
    text = params.text("focus")
    if not text:
        return None
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise InvalidInput('Validation failed: focus must be two numbers, "x,y"') from None
    if not (-1.0 <= x <= 1.0 and -1.0 <= y <= 1.0):
        raise InvalidInput("Validation failed: focus values must be between -1 and 1")
    return x, y


def _description(params: Params) -> str | None:
    text = params.text("description")
    if text is not None and len(text) > DESCRIPTION_LIMIT:
        raise InvalidInput(f"Validation failed: description is longer than {DESCRIPTION_LIMIT} characters")
    return text


async def upload(request: Request) -> Response:
    limit = request.app.state.settings.media.max_upload_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit + 65536:
        return ok({"error": f"File is larger than {limit} bytes"}, 413)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:media")
        params = await read_params(request)
        upload_file = params.file("file")
        try:
            data = await upload_file.read(limit + 1) if upload_file is not None else b""
        finally:
            await params.close()
        if not data:
            raise InvalidInput("Validation failed: File can't be blank")
        if len(data) > limit:
            return ok({"error": f"File is larger than {limit} bytes"}, 413)
        row = await actions.upload_media(
            services(request), session, found.actor, data, _description(params) or "", _focus(params) or (0.0, 0.0)
        )
        await session.commit()
        return ok(media_entity(row, urls(request)))


async def show(request: Request) -> Response:
    """206 with ``url`` null while the file is not stored yet, 200 once it is (MD:/methods/media/#get).
    Uploads are processed before ``POST`` answers, so today every row a client can name is ready."""
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:media")
        row = await lookup.media(session, request.path_params["id"], found.actor)
        ready = row.storage_key is not None or row.remote_url is not None
        return ok(media_entity(row, urls(request)), 200 if ready else 206)


async def update(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:media")
        row = await lookup.media(session, request.path_params["id"], found.actor)
        if row.note_id is not None:
            # Mastodon finds only unattached media here; changing a posted image's alt text this way
            # would send no Update(Note) to the servers that have the post.
            raise NotFound("Record not found: edit the status (media_attributes) to change its media")
        params = await read_params(request)
        description = _description(params)
        focus = _focus(params)
        if description is not None:
            row.description = description
        if focus is not None:
            row.focus_x, row.focus_y = focus
        await session.commit()
        return ok(media_entity(row, urls(request)))


routes = [
    Route("/api/v2/media", upload, methods=["POST"]),
    Route("/api/v1/media", upload, methods=["POST"]),
    Route("/api/v1/media/{id}", show, methods=["GET"]),
    Route("/api/v1/media/{id}", update, methods=["PUT"]),
]
