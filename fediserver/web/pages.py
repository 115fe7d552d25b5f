"""Public pages: the front page, profiles, post permalinks, tag pages and the three feeds."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from fediserver.domain import posts, threads, timelines
from fediserver.domain.services import Services
from fediserver.errors import NotFound
from fediserver.federation.sanitize import plain_text
from fediserver.models import LocalActor, Note
from fediserver.web import actions
from fediserver.web.cards import PostCard, post_cards
from fediserver.web.context import Viewer, page, render, require_viewer, viewer
from fediserver.web.strings import STRINGS

EXCERPT = 120


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def _before(request: Request) -> int | None:
    raw = request.query_params.get("before")
    if raw is None:
        return None
    if not raw.isdigit():
        raise NotFound("before: a post id")
    return int(raw)


def _more(request: Request, notes: list[Note], size: int) -> str | None:
    return f"{request.url.path}?before={notes[-1].id}" if len(notes) == size else None


async def _cards(session: AsyncSession, request: Request, who: Viewer | None, notes: list[Note]) -> list[PostCard]:
    return await post_cards(session, services(request).urls, notes, who.actor if who else None)


def _reader(request: Request, who: Viewer | None) -> timelines.Reader | None:
    return timelines.Reader.of(services(request).urls, who.actor if who else None)


@page
async def front(request: Request) -> Response:
    who = await viewer(request)
    async with request.app.state.sessions() as session:
        notes = await actions.local_feed(session, limit=12)
        cards = await _cards(session, request, who, notes)
    more = str(request.app.url_path_for("local")) if len(notes) == 12 else None
    return await render(request, "front.html", cards=cards, more=more, base_url=services(request).urls.base)


async def _feed(request: Request, heading: str, which: str) -> Response:
    who = await viewer(request)
    before = _before(request)
    async with request.app.state.sessions() as session:
        if which == "local":
            notes = await actions.local_feed(session, before=before, reader=_reader(request, who))
        else:
            notes = await actions.federated_feed(session, before=before, reader=_reader(request, who))
        cards = await _cards(session, request, who, notes)
    more = _more(request, notes, actions.FEED_SIZE)
    return await render(request, "feed.html", heading=heading, cards=cards, more=more)


@page
async def local(request: Request) -> Response:
    return await _feed(request, STRINGS["feed_local_title"], "local")


@page
async def federated(request: Request) -> Response:
    return await _feed(request, STRINGS["feed_federated_title"], "federated")


@page
async def home(request: Request) -> Response:
    who = await require_viewer(request)
    async with request.app.state.sessions() as session:
        notes = await actions.home_feed(services(request), session, who.actor)
        cards = await _cards(session, request, who, notes)
    return await render(request, "feed.html", heading=STRINGS["feed_home_title"], cards=cards, more=None)


@page
async def tag(request: Request) -> Response:
    who = await viewer(request)
    name = request.path_params["tag"]
    before = _before(request)
    async with request.app.state.sessions() as session:
        notes = await actions.tag_feed(session, name, before=before, reader=_reader(request, who))
        cards = await _cards(session, request, who, notes)
    urls = services(request).urls
    more = _more(request, notes, actions.FEED_SIZE)
    return await render(request, "tag.html", tag=name, cards=cards, more=more, page_url=urls.tag(name))


@page
async def profile(request: Request) -> Response:
    who = await viewer(request)
    async with request.app.state.sessions() as session:
        actor = await actions.profile(session, request.path_params["username"])
        notes = await actions.profile_posts(services(request), session, actor)
        cards = await _cards(session, request, who, notes)
    return await profile_response(request, actor, cards)


async def profile_response(request: Request, actor: LocalActor, cards: list[PostCard]) -> Response:
    urls = services(request).urls
    pictures = [(card, pic) for card in cards for pic in card.pictures]
    first = next(((c, p) for c, p in pictures if not c.sensitive), None)
    return await render(
        request,
        "profile.html",
        actor=actor,
        handle=urls.handle(actor.username),
        summary=plain_text(actor.summary or ""),
        actor_uri=urls.actor(actor.username),
        profile_url=urls.profile(actor.username),
        og_image=first[1].url if first else None,
        og_image_alt=first[1].alt if first else "",
        pictures=pictures,
        cards=cards,
    )


async def post_page(request: Request, note: Note) -> Response:
    """A local post's permalink for browsers (its AS2 form is negotiated in routes/notes.py)."""
    who = await viewer(request)
    me_uri = services(request).urls.actor(who.actor.username) if who is not None else None
    async with request.app.state.sessions() as session:
        thread = await threads.context(session, note, me_uri)
        versions = await posts.history(session, note) if note.updated_at is not None else []
        [card, *around] = await _cards(session, request, who, [note, *thread.ancestors, *thread.descendants])
    ancestors, replies = around[: len(thread.ancestors)], around[len(thread.ancestors) :]
    text = card.summary or plain_text(str(card.content))
    excerpt = text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
    image = card.pictures[0] if card.pictures and not card.sensitive else None
    return await render(
        request,
        "post.html",
        card=card,
        ancestors=ancestors,
        replies=replies,
        versions=versions,
        excerpt=excerpt,
        og_image=image.url if image else None,
        og_image_alt=image.alt if image else "",
    )


async def actor_page(request: Request, actor: LocalActor) -> Response:
    """The profile page, served at the actor's id to browsers (its AS2 form is negotiated in routes/actors.py)."""
    who = await viewer(request)
    async with request.app.state.sessions() as session:
        notes = await actions.profile_posts(services(request), session, actor)
        cards = await _cards(session, request, who, notes)
    return await profile_response(request, actor, cards)
