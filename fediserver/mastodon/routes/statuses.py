"""Statuses (docs.joinmastodon.org/methods/statuses/): create, get, delete, context, favourite, reblog."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain.timelines import Entry
from fediserver.errors import InvalidInput, NotFound
from fediserver.mastodon import actions, lookup
from fediserver.mastodon.auth import caller, optional_caller
from fediserver.mastodon.entities.status import VISIBILITY_IN
from fediserver.mastodon.http import ok, services, urls
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import Presenter
from fediserver.models import Announce, Note
from fediserver.notes import may_see

MAX_CONTEXT = 100


async def create(request: Request) -> Response:
    params = await read_params(request)
    if params.text("scheduled_at"):
        # Tusky re-posted endlessly when a server ignored scheduled_at (clients.md row 25).
        raise InvalidInput("Validation failed: scheduled statuses are not supported")
    if params.values.get("poll"):
        raise InvalidInput("Validation failed: polls are not supported")
    visibility = params.text("visibility") or "public"
    if visibility not in VISIBILITY_IN:
        raise InvalidInput(f"Validation failed: unknown visibility {visibility!r}")
    key = request.headers.get("idempotency-key")
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:statuses")
        user = found.user
        assert user is not None
        me = urls(request).actor(user.actor.username)
        presenter = Presenter(session, urls(request), me, user.actor)
        if key and (done := await actions.idempotent_status(session, user, key)) is not None:
            return ok(await presenter.status(done))
        media = [await lookup.media(session, mid, user.actor) for mid in params.many("media_ids")]
        if any(m.note_id is not None for m in media):
            raise InvalidInput("Validation failed: a media attachment is already attached to a status")
        reply_to = params.text("in_reply_to_id")
        parent = await lookup.status(session, reply_to, me) if reply_to else None
        note = await actions.create_status(
            services(request),
            session,
            user,
            text=params.text("status") or "",
            media=media,
            # Without a visibility the user's default applies (source[privacy], as Mastodon).
            visibility=VISIBILITY_IN[visibility] if params.text("visibility") else user.default_visibility,
            spoiler_text=params.text("spoiler_text") or "",
            sensitive=params.flag("sensitive", default=user.default_sensitive),
            in_reply_to=parent,
            idempotency_key=key,
        )
        await session.commit()
        return ok(await presenter.status(note, fresh=True))


async def show(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await optional_caller(request, session, "read:statuses")
        viewer = urls(request).actor(found.actor.username) if found and found.user else None
        note = await lookup.status(session, request.path_params["id"], viewer)
        return ok(await Presenter(session, urls(request), viewer).status(note))


async def remove(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:statuses")
        me = urls(request).actor(found.actor.username)
        note = await lookup.status(session, request.path_params["id"], me)
        if note.attributed_to != me:
            raise NotFound("Record not found")
        body = await Presenter(session, urls(request), me).status(note)
        body["text"] = note.source_text or ""
        await actions.delete_status(services(request), session, found.actor, note)
        await session.commit()
    return ok(body)


async def context(request: Request) -> Response:
    """Ancestors (oldest first) up the in_reply_to chain; descendants breadth-first below."""
    async with request.app.state.sessions() as session:
        found = await optional_caller(request, session, "read:statuses")
        viewer = urls(request).actor(found.actor.username) if found and found.user else None
        note = await lookup.status(session, request.path_params["id"], viewer)
        ancestors: list[Note] = []
        current = note
        while current.in_reply_to_uri and len(ancestors) < MAX_CONTEXT:
            parent = await session.scalar(
                select(Note).where(Note.uri == current.in_reply_to_uri, Note.deleted_at.is_(None))
            )
            if parent is None or not await may_see(session, parent, viewer):
                break
            ancestors.insert(0, parent)
            current = parent
        descendants: list[Note] = []
        frontier = [note.uri]
        while frontier and len(descendants) < MAX_CONTEXT:
            children = list(
                await session.scalars(
                    select(Note)
                    .where(Note.in_reply_to_uri.in_(frontier), Note.deleted_at.is_(None))
                    .order_by(Note.published_at, Note.id)
                )
            )
            visible = [c for c in children if await may_see(session, c, viewer)]
            descendants.extend(visible)
            frontier = [c.uri for c in visible]
        presenter = Presenter(session, urls(request), viewer)
        return ok(
            {
                "ancestors": await presenter.statuses(ancestors),
                "descendants": await presenter.statuses(descendants[:MAX_CONTEXT]),
            }
        )


def _reaction(action: str) -> Route:
    async def handler(request: Request) -> Response:
        scope = "write:favourites" if "favourite" in action else "write:statuses"
        async with request.app.state.sessions() as session:
            found = await caller(request, session, scope)
            me = urls(request).actor(found.actor.username)
            note = await lookup.status(session, request.path_params["id"], me)
            await getattr(actions, action)(services(request), session, found.actor, note)
            await session.commit()
            presenter = Presenter(session, urls(request), me, found.actor)
            if action == "reblog":
                # The boost itself, wrapping the status in ``reblog`` (MD:/methods/statuses/#boost), under
                # the id the home timeline and the streaming API give it.
                boost = await session.scalar(
                    select(Announce).where(Announce.actor_uri == me, Announce.note_uri == note.uri)
                )
                if boost is not None:
                    entry = Entry(note, me, boost.id, boost.activity_uri, boost.created_at)
                    return ok((await presenter.timeline([entry]))[0])
            return ok(await presenter.status(note))

    return Route(f"/api/v1/statuses/{{id}}/{action}", handler, methods=["POST"])


routes = [
    Route("/api/v1/statuses", create, methods=["POST"]),
    Route("/api/v1/statuses/{id}", show, methods=["GET"]),
    Route("/api/v1/statuses/{id}", remove, methods=["DELETE"]),
    Route("/api/v1/statuses/{id}/context", context),
    *(_reaction(a) for a in ("favourite", "unfavourite", "reblog", "unreblog")),
]
