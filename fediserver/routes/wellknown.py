"""WebFinger, NodeInfo and host-meta (federation.md §1.1, §3; checklist 1, 2, 6, 42)."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import activitypub as ap
from fediserver import __version__
from fediserver.domain import site
from fediserver.models import LocalActor, Note, User
from fediserver.routes.responses import error
from fediserver.urls import Urls

JRD = "application/jrd+json; charset=utf-8"


async def webfinger(request: Request) -> Response:
    urls: Urls = request.app.state.urls
    resource = request.query_params.get("resource", "")
    if not resource:
        return error(400, "resource: required, e.g. acct:alice@" + urls.domain)
    if resource.startswith(("https://", "http://")):
        prefix = urls.actor("")
        username = resource[len(prefix) :] if resource.startswith(prefix) else None
        if resource == urls.instance_actor():
            username = urls.domain
    else:
        try:
            acct = ap.parse_acct(resource)
        except ap.ActivityPubError as exc:
            return error(400, f"resource: {exc}")
        if acct.host.lower() != urls.domain:
            return error(404, f"{acct.host} is not this instance")
        username = acct.user.lower()
    if username is None:
        return error(404, "no such account")
    if username == urls.domain:
        acct = ap.Acct(urls.domain, urls.domain)
        jrd = ap.build_jrd(acct, urls.instance_actor(), profile_url=urls.base + "/")
        return JSONResponse(jrd, media_type=JRD)
    async with request.app.state.sessions() as session:
        actor = await session.scalar(
            select(LocalActor).where(LocalActor.username == username, LocalActor.actor_type != "Application")
        )
    if actor is None:
        return error(404, f"no account {username}@{urls.domain}")
    if actor.deleted_at is not None:
        # Mastodon answers 410 for an account that is gone, so resolvers drop it (checklist 2).
        return error(410, f"{username}@{urls.domain} was deleted")
    acct = ap.Acct(actor.username, urls.domain)
    jrd = ap.build_jrd(
        acct,
        urls.actor(actor.username),
        profile_url=urls.profile(actor.username),
        aliases=(urls.actor(actor.username),),
    )
    return JSONResponse(jrd, media_type=JRD)


async def host_meta(request: Request) -> Response:
    urls: Urls = request.app.state.urls
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{urls.base}/.well-known/webfinger?resource={{uri}}"/>\n'
        "</XRD>\n"
    )
    return Response(body, media_type="application/xrd+xml; charset=utf-8")


async def nodeinfo_links(request: Request) -> Response:
    urls: Urls = request.app.state.urls
    return JSONResponse(ap.well_known_nodeinfo(urls.base, application_actor=urls.instance_actor()))


async def nodeinfo(request: Request) -> Response:
    version = request.path_params["version"]
    if version not in ("2.0", "2.1"):
        return error(404, "NodeInfo 2.0 and 2.1 are served")
    async with request.app.state.sessions() as session:
        settings = await site.effective(session, request.app.state.settings)
        users = await session.scalar(select(func.count()).select_from(User)) or 0
        posts = await session.scalar(
            select(func.count()).select_from(Note).where(Note.local_actor_id.is_not(None), Note.deleted_at.is_(None))
        )
    doc = ap.nodeinfo_document(
        version,
        software_name="fediserver",
        software_version=__version__,
        open_registrations=settings.instance.registration == "open",
        users_total=users,
        users_active_month=users,
        users_active_halfyear=users,
        local_posts=posts or 0,
        # megalodon (Whalebird, Fedistar) treats an unknown software as Mastodon only with this (clients.md row 16).
        metadata={
            "nodeName": settings.instance.name,
            "nodeDescription": settings.instance.description,
            "upstream": {"name": "mastodon"},
        },
    )
    return JSONResponse(doc, media_type=ap.nodeinfo_content_type(version))


routes = [
    Route("/.well-known/webfinger", webfinger),
    Route("/.well-known/host-meta", host_meta),
    Route("/.well-known/nodeinfo", nodeinfo_links),
    Route("/nodeinfo/{version}", nodeinfo),
]
