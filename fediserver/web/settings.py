"""Profile settings: display name, bio, avatar and header (uploaded, or generated from a prompt), up to
four fields, locked and bot flags (``domain.profiles``); and the follow requests of a locked account
(``domain.relations``: accept or reject)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from fediserver.domain import profiles, relations
from fediserver.domain.profiles import MAX_FIELDS, ProfileChange
from fediserver.errors import AppError, InvalidInput, NotFound
from fediserver.federation.sanitize import plain_text
from fediserver.models import LocalActor
from fediserver.web import actions
from fediserver.web.cards import authors
from fediserver.web.context import Viewer, checked_form, page, redirect, render, require_viewer
from fediserver.web.pages import services

PURPOSES = ("avatar", "header")


async def _me(session: AsyncSession, who: Viewer) -> LocalActor:
    """The viewer's actor in this session (the one on ``who`` belongs to the session that found it)."""
    actor = await session.get(LocalActor, who.actor.id)
    if actor is None:
        raise NotFound("no such account")
    return actor


async def _settings_page(
    request: Request, who: Viewer, status: int = 200, error: str | None = None, saved: bool = False
) -> Response:
    svc = services(request)
    async with request.app.state.sessions() as session:
        actor = await _me(session, who)
        pending = await relations.follow_requests(svc, session, actor)
        names = await authors(session, svc.urls, {row.follower_uri for row in pending})
    fields = [(f.get("name", ""), f.get("value", "")) for f in actor.fields]
    fields += [("", "")] * (MAX_FIELDS - len(fields))
    return await render(
        request,
        "settings.html",
        status,
        error=error,
        saved=saved or request.query_params.get("saved") == "1",
        actor=actor,
        bio=plain_text(actor.summary or ""),
        fields=fields,
        avatar=svc.urls.media(actor.avatar_key) if actor.avatar_key else None,
        header=svc.urls.media(actor.header_key) if actor.header_key else None,
        requests=[(row.follower_uri, names[row.follower_uri]) for row in pending],
    )


@page
async def settings_form(request: Request) -> Response:
    return await _settings_page(request, await require_viewer(request))


def _change(who: Viewer, fields: dict[str, str], files: dict[str, bytes]) -> ProfileChange:
    pairs = [(fields.get(f"field-name-{i}", ""), fields.get(f"field-value-{i}", "")) for i in range(MAX_FIELDS)]
    bio = fields.get("bio", "").strip()
    return ProfileChange(
        display_name=fields.get("display_name", "").strip(),
        # The stored bio is HTML; resend it only when the text shown in the form was changed, so saving
        # other settings does not re-render it.
        bio=bio if bio != plain_text(who.actor.summary or "") else None,
        avatar=files.get("avatar"),
        header=files.get("header"),
        fields=[(name, value) for name, value in pairs if name.strip() or value.strip()],
        locked=fields.get("locked") == "1",
        bot=fields.get("bot") == "1",
    )


@page
async def settings_save(request: Request) -> Response:
    """Apply the form through ``domain.profiles.update_profile`` (followers get ``Update(Person)``)."""
    who = await require_viewer(request)
    limit = services(request).settings.media.max_upload_bytes
    # A browser sends both file inputs (avatar and header), chosen or not.
    form = await checked_form(request, who, max_part_size=limit, max_files=2)
    async with request.app.state.sessions() as session:
        actor = await _me(session, who)
        try:
            await profiles.update_profile(services(request), session, actor, _change(who, form.fields, form.files))
        except AppError as exc:
            await session.rollback()
            return await _settings_page(request, who, exc.status_code, exc.message)
        await session.commit()
    return redirect(str(request.app.url_path_for("settings")) + "?saved=1")


@page
async def follow_request(request: Request) -> Response:
    """Accept or reject the pending follow from ``account`` (an actor URI from the list)."""
    who = await require_viewer(request)
    form = await checked_form(request, who)
    decision, account = form.get("decision"), form.get("account")
    if decision not in ("accept", "reject"):
        raise InvalidInput("decision: accept or reject")
    async with request.app.state.sessions() as session:
        actor = await _me(session, who)
        answer = relations.accept_follow_request if decision == "accept" else relations.reject_follow_request
        await answer(services(request), session, actor, account)
        await session.commit()
    return redirect(str(request.app.url_path_for("settings")) + "#requests")


@page
async def generate_image(request: Request) -> Response:
    """Queue a generation whose image the worker puts on the profile (``purpose`` avatar or header)."""
    who = await require_viewer(request)
    form = await checked_form(request, who)
    purpose = form.get("purpose") or "avatar"
    if purpose not in PURPOSES:
        raise InvalidInput("purpose: avatar or header")
    async with request.app.state.sessions() as session:
        try:
            job = await actions.start_generation(
                services(request), session, who.actor, form.get("prompt"), None, purpose=purpose
            )
        except AppError as exc:
            return await _settings_page(request, who, exc.status_code, exc.message)
        await session.commit()
    return redirect(str(request.app.url_path_for("job", token=job.token)))


@page
async def use_generated(request: Request) -> Response:
    """The finished generation's image becomes the avatar or header (``domain.profiles.use_generated_image``)."""
    who = await require_viewer(request)
    form = await checked_form(request, who)
    purpose = form.get("purpose")
    if purpose not in PURPOSES:
        raise InvalidInput("purpose: avatar or header")
    async with request.app.state.sessions() as session:
        job, media, _ = await actions.my_generation(session, who.actor, request.path_params["token"])
        if job.state != "done" or media is None or media.storage_key is None:
            raise NotFound("the image is not ready yet")
        actor = await _me(session, who)
        await profiles.use_generated_image(
            services(request).fed, session, actor, purpose, media.storage_key, media.media_type
        )
        await session.commit()
    return redirect(str(request.app.url_path_for("settings")) + "?saved=1")
