"""Members' actions: compose (text and upload, or prompt → generate → publish), like, delete, follow."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fediserver.errors import AppError, InvalidInput, NotFound
from fediserver.web import actions
from fediserver.web.context import Viewer, checked_form, page, redirect, render, require_viewer
from fediserver.web.pages import services

# "Pick one of a batch of four" (issue 12): four seeds of one prompt, rendered together by the worker.
BATCH = 4


def _visibility(value: str) -> str:
    if value not in ("public", "unlisted", "followers"):
        raise InvalidInput("visibility: public, unlisted or followers")
    return value


async def _compose(request: Request, status: int = 200, error: str | None = None, **values: str) -> Response:
    assist = services(request).settings.assist
    return await render(
        request,
        "compose.html",
        status,
        error=error,
        # Writing-help buttons, each shown only when the admin left it on (the script fills drafts in).
        assist_alt=assist.enabled and assist.alt_text,
        assist_rewrite=assist.enabled and assist.rewrite,
        assist_prompt=assist.enabled and assist.prompt,
        prompt=values.get("prompt", request.query_params.get("prompt", "")),
        seed=values.get("seed", request.query_params.get("seed", "")),
        text_value=values.get("text", ""),
        alt=values.get("alt", ""),
    )


@page
async def compose(request: Request) -> Response:
    await require_viewer(request)
    return await _compose(request)


@page
async def compose_post(request: Request) -> Response:
    who = await require_viewer(request)
    limit = services(request).settings.media.max_upload_bytes
    form = await checked_form(request, who, max_part_size=limit)
    image = form.files.get("image")
    text, alt = form.raw("text"), form.get("alt")
    async with request.app.state.sessions() as session:
        try:
            note = await actions.write_post(
                services(request),
                session,
                who.actor,
                text,
                visibility=_visibility(form.get("visibility") or "public"),
                image=image,
                alt=alt,
                summary=form.get("summary"),
                sensitive=bool(form.get("sensitive")),
                assisted=form.get("assisted") == "1",
            )
        except AppError as exc:
            return await _compose(request, exc.status_code, exc.message, text=text, alt=alt)
        await session.commit()
    return redirect(note.url or note.uri)


@page
async def compose_generate(request: Request) -> Response:
    who = await require_viewer(request)
    form = await checked_form(request, who)
    prompt, raw_seed = form.get("prompt"), form.get("seed")
    if raw_seed and not raw_seed.isdigit():
        return await _compose(request, 422, "seed: a whole number", prompt=prompt, seed=raw_seed)
    seed = int(raw_seed) if raw_seed else None
    async with request.app.state.sessions() as session:
        try:
            if form.get("batch"):
                batch = await actions.start_batch(services(request), session, who.actor, prompt, seed, BATCH)
            else:
                batch = [await actions.start_generation(services(request), session, who.actor, prompt, seed)]
        except AppError as exc:
            return await _compose(request, exc.status_code, exc.message, prompt=prompt, seed=raw_seed)
        await session.commit()
    if len(batch) > 1:
        return redirect(str(request.app.url_path_for("batch")) + "?jobs=" + ",".join(j.token for j in batch))
    return redirect(str(request.app.url_path_for("job", token=batch[0].token)))


async def _job_page(request: Request, who: Viewer, status: int = 200, error: str | None = None) -> Response:
    urls = services(request).urls
    async with request.app.state.sessions() as session:
        job, media, note = await actions.my_generation(session, who.actor, request.path_params["token"])
    total = job.progress_total or job.steps
    percent = 100 if job.state == "done" else (100 * job.progress_step // total if total else 0)
    return await render(
        request,
        "job.html",
        status,
        error=error,
        job=job,
        note=note,
        percent=percent,
        image=urls.media(media.storage_key) if media is not None and media.storage_key else None,
        default_alt=media.description if media is not None else "",
        events_url=urls.generation_events(job.token),
        assist_alt=services(request).settings.assist.enabled and services(request).settings.assist.alt_text,
    )


@page
async def job(request: Request) -> Response:
    return await _job_page(request, await require_viewer(request))


@page
async def job_cancel(request: Request) -> Response:
    who = await require_viewer(request)
    await checked_form(request, who)
    async with request.app.state.sessions() as session:
        found, _, _ = await actions.my_generation(session, who.actor, request.path_params["token"])
        try:
            await actions.cancel_generation(session, found)
        except AppError as exc:
            return await _job_page(request, who, exc.status_code, exc.message)
        await session.commit()
    return redirect(str(request.url.path).removesuffix("/cancel"))


@page
async def job_retry(request: Request) -> Response:
    who = await require_viewer(request)
    await checked_form(request, who)
    async with request.app.state.sessions() as session:
        found, _, _ = await actions.my_generation(session, who.actor, request.path_params["token"])
        again = await actions.retry_generation(services(request), session, who.actor, found)
        await session.commit()
    return redirect(str(request.app.url_path_for("job", token=again.token)))


@page
async def job_publish(request: Request) -> Response:
    who = await require_viewer(request)
    form = await checked_form(request, who)
    async with request.app.state.sessions() as session:
        try:
            note = await actions.publish_generation(
                services(request),
                session,
                who.actor,
                request.path_params["token"],
                text=form.raw("text").strip(),
                alt=form.get("alt"),
                visibility=_visibility(form.get("visibility") or "public"),
                summary=form.get("summary"),
                sensitive=bool(form.get("sensitive")),
            )
        except AppError as exc:
            if isinstance(exc, NotFound):
                raise
            return await _job_page(request, who, exc.status_code, exc.message)
        await session.commit()
    return redirect(note.url or note.uri)


@page
async def like(request: Request) -> Response:
    who = await require_viewer(request)
    await checked_form(request, who)
    async with request.app.state.sessions() as session:
        note = await actions.note_by_id(session, int(request.path_params["note_id"]))
        await actions.like(services(request), session, who.actor, note)
        await session.commit()
    return redirect(_back_to(request, f"#post-{note.id}"))


@page
async def delete(request: Request) -> Response:
    who = await require_viewer(request)
    await checked_form(request, who)
    async with request.app.state.sessions() as session:
        note = await actions.note_by_id(session, int(request.path_params["note_id"]))
        await actions.delete_post(services(request), session, who.actor, note)
        await session.commit()
    return redirect(str(request.app.url_path_for("profile", username=who.actor.username)))


@page
async def follow_form(request: Request) -> Response:
    await require_viewer(request)
    return await render(request, "follow.html", error=None, account="", sent=None)


@page
async def follow(request: Request) -> Response:
    who = await require_viewer(request)
    form = await checked_form(request, who)
    account = form.get("account")
    async with request.app.state.sessions() as session:
        try:
            await actions.follow(services(request), session, who.actor, account)
        except AppError as exc:
            return await render(request, "follow.html", exc.status_code, error=exc.message, account=account, sent=None)
        await session.commit()
    return await render(request, "follow.html", error=None, account="", sent=account)


def _back_to(request: Request, anchor: str) -> str:
    """The page the form was on (Referrer-Policy: same-origin sends it), else the front page."""
    referer = request.headers.get("referer", "").split("#")[0]
    return referer + anchor if referer.startswith(services(request).urls.base + "/") else "/"
