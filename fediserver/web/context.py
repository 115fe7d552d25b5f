"""What every page handler shares: the template environment, the viewer, CSRF checks and rendering.

``WebUI.build`` runs at application start-up (never at import); handlers reach it as ``request.app.state.web``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jinja2
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, NoMatchFound, Route, WebSocketRoute

from fediserver.config import Settings
from fediserver.domain import notifications, site
from fediserver.errors import AppError
from fediserver.logins import LoginLimiter
from fediserver.models import LocalActor, User, WebSession
from fediserver.web.assets import Assets
from fediserver.web.security import HTML_HEADERS
from fediserver.web.strings import STRINGS, Strings
from fediserver.websessions import CSRF_COOKIE, CookiePolicy, anonymous_csrf, check_csrf, current_session

Handler = Callable[[Request], Awaitable[Response]]


class CsrfRefused(AppError):
    status_code = 403

    def __init__(self) -> None:
        super().__init__(STRINGS["csrf_failed"])


class Forbidden(AppError):
    status_code = 403


class LoginRequired(Exception):
    """Raised by a page that needs a logged-in viewer; answered with a redirect to the log-in page."""


@dataclass(frozen=True)
class Viewer:
    """The logged-in person looking at a page."""

    user: User
    web_session: WebSession

    @property
    def actor(self) -> LocalActor:
        return self.user.actor

    @property
    def csrf(self) -> str:
        return self.web_session.csrf_token


@dataclass(frozen=True)
class WebUI:
    env: jinja2.Environment
    assets: Assets
    cookies: CookiePolicy
    limiter: LoginLimiter
    settings: Settings

    @classmethod
    def build(cls, settings: Settings) -> WebUI:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("fediserver.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        assets = Assets.load()
        env.globals.update(t=Strings(STRINGS), static=assets.url, instance=settings.instance)
        return cls(
            env=env,
            assets=assets,
            cookies=CookiePolicy.for_scheme(settings.instance.scheme),
            limiter=LoginLimiter(),
            settings=settings,
        )


def web(request: Request) -> WebUI:
    ui: WebUI = request.app.state.web
    return ui


async def viewer(request: Request) -> Viewer | None:
    """The viewer named by the session cookie (memoised on the request), or None."""
    if "viewer" in request.scope.get("state", {}):
        cached: Viewer | None = request.state.viewer
        return cached
    found: Viewer | None = None
    async with request.app.state.sessions() as session:
        row = await current_session(session, request)
        if row is not None and row.user.is_approved and row.user.actor.suspended_at is None:
            await session.commit()
            found = Viewer(user=row.user, web_session=row)
    request.state.viewer = found
    return found


async def require_viewer(request: Request) -> Viewer:
    found = await viewer(request)
    if found is None:
        raise LoginRequired
    return found


async def require_moderator(request: Request) -> Viewer:
    """A moderator or an admin (``users.role``); 403 with the reason for anyone else."""
    found = await require_viewer(request)
    if not found.user.is_moderator:
        raise Forbidden(STRINGS["admin_required"])
    return found


async def require_admin(request: Request) -> Viewer:
    """An admin: instance settings and roles."""
    found = await require_viewer(request)
    if not found.user.is_admin:
        raise Forbidden(STRINGS["admin_only"])
    return found


@dataclass(frozen=True)
class Posted:
    """A posted form, read whole and closed: text fields, and the bytes of each file chosen."""

    fields: dict[str, str]
    files: dict[str, bytes]

    def get(self, name: str) -> str:
        """The field stripped of surrounding blanks; empty when absent."""
        return self.fields.get(name, "").strip()

    def raw(self, name: str) -> str:
        return self.fields.get(name, "")


async def checked_form(
    request: Request, who: Viewer | None, *, max_part_size: int = 1_048_576, max_files: int = 1
) -> Posted:
    """The posted form, refused unless its ``csrf`` field matches the session's token (or, before
    log-in, the double-submit cookie's)."""
    async with request.form(max_files=max_files, max_fields=50, max_part_size=max_part_size) as form:
        fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        expected = who.csrf if who is not None else request.cookies.get(CSRF_COOKIE)
        if not check_csrf(expected, fields.get("csrf")):
            raise CsrfRefused
        files = {
            key: await value.read()
            for key, value in form.multi_items()
            if isinstance(value, UploadFile) and value.filename
        }
    return Posted(fields=fields, files=files)


def _routes_named(app: Any) -> dict[str, list[BaseRoute]]:
    """The app's routes by name. ``Router.url_path_for`` tries every route in turn (a hundred and more
    here, each answering with an exception), and a feed page builds a hundred URLs: that scan was most of
    a signed-in page's time. Built once, at the first page after start-up, when every route is mounted."""
    index: dict[str, list[BaseRoute]] | None = getattr(app.state, "web_routes_named", None)
    if index is None:
        index = {}
        for route in app.routes:
            name = getattr(route, "name", None)
            if isinstance(route, (Route, WebSocketRoute)) and name:
                index.setdefault(name, []).append(route)
        app.state.web_routes_named = index
    return index


def url_for(request: Request) -> Callable[..., str]:
    """``url(name, **params)`` for templates: the path of the named route (``Router.url_path_for``'s
    answer, found by name first; names that only a mount knows fall back to the full scan)."""
    named = _routes_named(request.app)

    def build(name: str, **params: Any) -> str:
        values = {k: str(v) for k, v in params.items()}
        for route in named.get(name, ()):
            try:
                return str(route.url_path_for(name, **values))
            except NoMatchFound:
                continue
        return str(request.app.url_path_for(name, **values))

    return build


async def unread_notifications(request: Request, session: AsyncSession, me: LocalActor) -> int:
    """The nav badge's count: what ``/api/v1/notifications/unread_count`` answers (muted and blocked
    senders left out, capped at 100)."""
    hidden = await notifications.hidden_senders(request.app.state.services, session, me)
    return await notifications.unread_count(session, me, hidden)


async def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """Render a page with the security headers; logged-in pages are never cached by shared caches."""
    who = await viewer(request)
    cookies = Response()
    csrf = who.csrf if who is not None else anonymous_csrf(request, cookies, web(request).cookies)
    async with request.app.state.sessions() as session:
        # The instance settings an admin changed at runtime (domain.site) show on every page at once.
        instance = (await site.effective(session, web(request).settings)).instance
        unread = await unread_notifications(request, session, who.actor) if who is not None else 0
    body = (
        web(request)
        .env.get_template(template)
        .render(request=request, me=who, csrf=csrf, url=url_for(request), instance=instance, unread=unread, **context)
    )
    response = HTMLResponse(body, status_code=status, headers=dict(HTML_HEADERS))
    for cookie in cookies.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", cookie)
    response.headers["Vary"] = "Accept, Cookie"
    response.headers["Cache-Control"] = "private, no-store" if who is not None else "no-cache"
    return response


def redirect(location: str) -> Response:
    return RedirectResponse(location, status_code=303)


def page(handler: Handler) -> Handler:
    """Answer a page's errors as HTML: the reason and its 4xx status, or a redirect to log in."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except LoginRequired:
            return redirect(str(request.app.url_path_for("login")) + "?next=" + quote(request.url.path))
        except AppError as exc:
            return await render(request, "error.html", exc.status_code, message=exc.message)

    return wrapped
