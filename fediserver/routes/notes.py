"""Local notes and their Create activities at stable URLs; deleted notes answer 410 (checklist 9, 12)."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain.threads import public_replies
from fediserver.errors import NotFound, Suspended
from fediserver.federation.context import Federation
from fediserver.federation.negotiation import wants_activity_json
from fediserver.federation.render import (
    create_for_note,
    note_to_as,
    ordered_collection,
    tombstone_for,
)
from fediserver.models import LocalActor, Note
from fediserver.notes import attachments_by_note, generations_by_note, may_see
from fediserver.routes.responses import as2, requester, token_of
from fediserver.web import pages


async def _note_response(request: Request, *, activity: bool) -> Response:
    """The note or its Create, to whoever may see it; anyone else gets 404 (its existence is private too).

    A signed GET's key may have to be fetched from the signer's server: that happens between two
    sessions, so no pooled connection waits on a remote host (issue 8, slow-key denial of service).
    """
    fed: Federation = request.app.state.federation
    uri = fed.urls.note(request.path_params["key"])
    sessions = request.app.state.sessions
    async with sessions() as session:
        note = await session.scalar(select(Note).where(Note.uri == uri, Note.local_actor_id.is_not(None)))
        if note is None:
            raise NotFound("no such post")
        author = await session.get(LocalActor, note.local_actor_id)
        if author is not None and author.suspended_at is not None:
            raise Suspended("the author's account is suspended")
        # Its author's own client (bearer token) reads it as it reads its outbox.
        owner = await token_of(request, session, note.local_actor_id)
    private = note.visibility in ("followers", "direct")
    viewer = None
    if not owner:
        viewer = await requester(request, required=private or fed.settings.federation.authorized_fetch)
    async with sessions() as session:
        # A post its requester may not see is reported as absent, not forbidden.
        if not owner and not await may_see(session, note, viewer.uri if viewer else None):
            raise NotFound("no such post")
        if note.deleted_at is not None:
            return as2(tombstone_for(note), status=410)
        media = (await attachments_by_note(session, [note.id])).get(note.id, [])
        generation = (await generations_by_note(session, [note])).get(note.id)
    doc = note_to_as(note, fed.urls, media, generation)
    if activity:
        return as2(create_for_note(doc, fed.urls))
    if wants_activity_json(request.headers.get("accept")):
        return as2(doc)
    return await pages.post_page(request, note)


async def note(request: Request) -> Response:
    return await _note_response(request, activity=False)


async def note_activity(request: Request) -> Response:
    return await _note_response(request, activity=True)


async def replies(request: Request) -> Response:
    """The public and unlisted replies to a local post, by id (Mastodon pages them; ours fit one page)."""
    fed: Federation = request.app.state.federation
    key = request.path_params["key"]
    async with request.app.state.sessions() as session:
        exists = await session.scalar(
            select(Note.id).where(Note.uri == fed.urls.note(key), Note.local_actor_id.is_not(None))
        )
        if exists is None:
            raise NotFound("no such post")
        items = await public_replies(session, fed.urls.note(key))
    doc = ordered_collection(fed.urls.note_replies(key), len(items), None)
    doc["orderedItems"] = items
    return as2(doc)


async def media(request: Request) -> Response:
    """User media: never an AS2 type, no scripts (checklist 49: a separate origin is better still)."""
    from starlette.responses import FileResponse

    store = request.app.state.media
    path = store.path(request.path_params["key"])
    if not path.is_file():
        raise NotFound("no such file")
    return FileResponse(
        path,
        headers={
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=31536000, immutable",
        },
    )


routes = [
    Route("/notes/{key}", note),
    Route("/notes/{key}/activity", note_activity),
    Route("/notes/{key}/replies", replies),
    Route("/media/{key:path}", media),
]
