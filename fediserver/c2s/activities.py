"""The activities the outbox answers with ``Location``, served at that URL (ActivityPub §6: the client GETs it).

A Like, Block or Follow is served to its owner's token only (it names a private relation); an Announce
to anyone, as it is public. Once undone, the activity is gone (404) and its Undo (``<id>/undo``, the id
the domain gives every Undo) is served to the owner. An upload's ``Location`` is its AS2 ``Image``,
served to the owner, or to anyone once it is attached to a public or unlisted post; the file itself
stays at ``/media/…``, which is never served as AS2 (checklist 49). A Create answers at the note's
``/activity``. An Update, Delete, Add or Remove of a post is served as it was sent (``domain.sent``):
to anyone if the post is public or unlisted, else to the owner's token only; it has no Undo, and a
deleted post's Updates are gone. Anything
else is 404, never 403, so a private activity's existence does not leak.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import activitypub as ap
from fediserver.c2s.media import image_to_as
from fediserver.domain import relations, sent
from fediserver.errors import NotFound
from fediserver.mastodon.auth import optional_caller
from fediserver.models import ActorBlock, Announce, Follow, Like, LocalActor, MediaAttachment, Note
from fediserver.routes.responses import as2, token_of
from fediserver.urls import Urls

JSON = dict[str, Any]
UNDOABLE = ("like", "announce", "block")


async def _owner(request: Request, session: AsyncSession) -> LocalActor:
    actor = await session.scalar(
        select(LocalActor).where(
            LocalActor.username == request.path_params["username"], LocalActor.deleted_at.is_(None)
        )
    )
    if actor is None:
        raise NotFound("no such activity")
    return actor


async def _activity(session: AsyncSession, urls: Urls, me: LocalActor, kind: str, uri: str) -> tuple[JSON, bool]:
    """(document, public) of the live activity ``uri`` of ``me``; NotFound if there is none."""
    me_uri = urls.actor(me.username)
    if kind == "like":
        like = await session.execute(
            select(Note.uri, Note.attributed_to).join_from(Note, Like, Like.note_uri == Note.uri)
            .where(Like.activity_uri == uri, Like.actor_uri == me_uri)
        )  # fmt: skip
        row = like.first()
        if row is not None:
            return ap.like(id=uri, actor=me_uri, object=row[0], to=[row[1]]), False
    elif kind == "announce":
        boost = await session.execute(
            select(Announce, Note.attributed_to).join(Note, Note.uri == Announce.note_uri)
            .where(Announce.activity_uri == uri, Announce.actor_uri == me_uri)
        )  # fmt: skip
        found = boost.first()
        if found is not None:
            announce, author = found
            cc = [urls.followers(me.username), author]
            doc = ap.announce(
                id=uri, actor=me_uri, object=announce.note_uri, published=announce.created_at, to=[ap.PUBLIC], cc=cc
            )
            return doc, True
    elif kind == "block":
        target = await session.scalar(
            select(ActorBlock).where(ActorBlock.activity_uri == uri, ActorBlock.actor_uri == me_uri)
        )
        if target is not None:
            return relations.block_document(target), False
    elif kind == "follow":
        followed = await session.scalar(
            select(Follow.followed_uri).where(Follow.activity_uri == uri, Follow.follower_uri == me_uri)
        )
        if followed is not None:
            return ap.follow(id=uri, actor=me_uri, object=followed), False
    elif kind in sent.KINDS:
        kept = await sent.find(session, me, uri)
        if kept is not None:
            return kept.body, kept.public
    raise NotFound("no such activity")


async def _serve(request: Request, session: AsyncSession, me: LocalActor, kind: str, uri: str, undo: bool) -> Response:
    urls: Urls = request.app.state.urls
    mine = await token_of(request, session, me.id)
    if undo:
        try:
            await _activity(session, urls, me, kind, uri)
        except NotFound:
            if mine:
                return as2(ap.undo(id=urls.undo(uri), actor=urls.actor(me.username), object=uri))
        raise NotFound("no such activity")
    doc, public = await _activity(session, urls, me, kind, uri)
    if not (public or mine):
        raise NotFound("no such activity")
    return as2(doc)


async def user_activity(request: Request) -> Response:
    urls: Urls = request.app.state.urls
    kind, ref = request.path_params["kind"], request.path_params["ref"]
    undo = request.url.path.endswith("/undo")
    # Update, Delete, Add and Remove cannot be undone (§6.10: Delete and Remove are used instead).
    if kind not in (*UNDOABLE, *(() if undo else sent.KINDS)):
        raise NotFound("no such activity")
    async with request.app.state.sessions() as session:
        me = await _owner(request, session)
        uri = urls.activity(me.username, kind, ref)
        return await _serve(request, session, me, kind, uri, undo)


async def follow_activity(request: Request) -> Response:
    urls: Urls = request.app.state.urls
    uri = urls.follow_activity(request.path_params["token"])
    async with request.app.state.sessions() as session:
        follower = await session.scalar(select(Follow.follower_uri).where(Follow.activity_uri == uri))
        prefix = urls.actor("")
        username = follower[len(prefix) :] if follower and follower.startswith(prefix) else None
        me = await session.scalar(select(LocalActor).where(LocalActor.username == username)) if username else None
        if me is None:
            # Undone follows leave no row: the Undo is found through the token's own user.
            found = await _token_user(request, session)
            if found is None or not request.url.path.endswith("/undo"):
                raise NotFound("no such activity")
            me = found
        return await _serve(request, session, me, "follow", uri, request.url.path.endswith("/undo"))


async def _token_user(request: Request, session: AsyncSession) -> LocalActor | None:
    found = await optional_caller(request, session, "read:statuses")
    return found.actor if found is not None and found.user is not None else None


async def media_object(request: Request) -> Response:
    """An upload's AS2 ``Image``: to its owner, or to anyone once on a public or unlisted post."""
    urls: Urls = request.app.state.urls
    async with request.app.state.sessions() as session:
        me = await _owner(request, session)
        row = await session.scalar(
            select(MediaAttachment).where(
                MediaAttachment.storage_key == request.path_params["key"], MediaAttachment.local_actor_id == me.id
            )
        )
        if row is None:
            raise NotFound("no such media")
        shown = await token_of(request, session, me.id)
        if not shown and row.note_id is not None:
            visibility = await session.scalar(
                select(Note.visibility).where(Note.id == row.note_id, Note.deleted_at.is_(None))
            )
            shown = visibility in ("public", "unlisted")
        if not shown:
            raise NotFound("no such media")
        return as2(image_to_as(row, urls, me.username))


routes = [
    Route("/users/{username}/activities/{kind}/{ref:int}", user_activity),
    Route("/users/{username}/activities/{kind}/{ref:int}/undo", user_activity),
    Route("/follows/{token}", follow_activity),
    Route("/follows/{token}/undo", follow_activity),
    Route("/users/{username}/media/{key:path}", media_object),
]
