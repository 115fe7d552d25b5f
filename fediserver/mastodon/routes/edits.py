"""Editing statuses (MD:/methods/statuses/#edit, #source, #history): the edit itself, the source text
an app puts back in its composer, and every version, oldest first and the current one last."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import edit_media, posts
from fediserver.domain.edit_media import VersionMedia
from fediserver.errors import NotFound
from fediserver.mastodon import edits, lookup
from fediserver.mastodon.auth import caller, optional_caller
from fediserver.mastodon.entities.media_attachment import media_entity
from fediserver.mastodon.entities.status import status_id
from fediserver.mastodon.entities.status_edit import status_edit_entity, status_source_entity
from fediserver.mastodon.http import ok, services, urls
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import JSON, Presenter
from fediserver.notes import attachments_by_note


async def update(request: Request) -> Response:
    """Only the author edits; someone else's status is a 404 as Mastodon answers (it is not theirs to find)."""
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:statuses")
        me = urls(request).actor(found.actor.username)
        note = await lookup.status(session, request.path_params["id"], me)
        if note.local_actor_id != found.actor.id:
            raise NotFound("Record not found")
        note = await edits.edit_status(services(request), session, found.actor, note, params)
        await session.commit()
        return ok(await Presenter(session, urls(request), me).status(note))


async def source(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:statuses")
        me = urls(request).actor(found.actor.username)
        note = await lookup.status(session, request.path_params["id"], me)
        if note.local_actor_id != found.actor.id:
            raise NotFound("Record not found")
        return ok(status_source_entity(status_id(note), note.source_text, note.summary))


def _media(items: list[VersionMedia] | None, current: list[JSON], request: Request) -> list[JSON]:
    """A version's attachments as it had them; the current ones where the version did not record any."""
    if items is None:
        return current
    out = []
    for item in items:
        body = media_entity(item.row, urls(request))
        body["description"] = item.description or None
        x, y = item.focus or (0.0, 0.0)
        body["meta"]["focus"] = {"x": float(x), "y": float(y)}
        out.append(body)
    return out


async def history(request: Request) -> Response:
    """Earlier versions from the domain's history, then the status as it is now (its only version if
    never edited), each with the attachments, alt text and focus it had."""
    async with request.app.state.sessions() as session:
        found = await optional_caller(request, session, "read:statuses")
        viewer = urls(request).actor(found.actor.username) if found and found.user else None
        note = await lookup.status(session, request.path_params["id"], viewer)
        account = await Presenter(session, urls(request), viewer).account(note.attributed_to)
        if account is None:
            raise NotFound("Record not found")
        attached = (await attachments_by_note(session, [note.id])).get(note.id, [])
        current = [media_entity(m, urls(request)) for m in attached]
        kept = await posts.history(session, note)
        versions = [
            status_edit_entity(
                content=v.content,
                spoiler_text=v.summary,
                sensitive=v.sensitive,
                created_at=v.created_at,
                account=account,
                media=_media(media, current, request),
            )
            for v, media in zip(kept, await edit_media.versions_media(session, kept), strict=True)
        ]
        versions.append(
            status_edit_entity(
                content=note.content,
                spoiler_text=note.summary,
                sensitive=note.sensitive,
                created_at=note.updated_at or note.published_at,
                account=account,
                media=current,
            )
        )
        return ok(versions)


routes = [
    Route("/api/v1/statuses/{id}", update, methods=["PUT"]),
    Route("/api/v1/statuses/{id}/source", source),
    Route("/api/v1/statuses/{id}/history", history),
]
