"""``/oauth/authorize``: the login and consent pages apps send the browser to (RFC 6749 §4.1.1, RFC 7636).

GET validates the request and shows the login form (no session, or ``force_login``) or the consent form.
The login form is protected by a double-submit CSRF cookie, the consent form by the session's CSRF token.
Every request parameter, PKCE included, travels through both forms as hidden fields. Approval redirects
to ``redirect_uri?code=…&state=…``, or for ``urn:ietf:wg:oauth:2.0:oob`` shows the code on a page.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from fediserver import websessions
from fediserver.logins import LoginLimiter, check_credentials
from fediserver.mastodon.params import Params, read_params
from fediserver.models import OAuthApplication, User
from fediserver.oauth import client_documents, grants
from fediserver.oauth.grants import OOB, OAuthError
from fediserver.oauth.scopes import Scopes

CARRIED = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method")
# The consent page must not be framed (clickjacking) nor cached, and runs no script.
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("fediserver.oauth", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    settings = request.app.state.settings
    page = _templates().get_template(name).render(instance=settings.instance.name, **context)
    return HTMLResponse(page, status_code=status, headers=PAGE_HEADERS)


@dataclass(frozen=True)
class AuthRequest:
    app: OAuthApplication
    redirect_uri: str
    scopes: Scopes
    state: str | None
    code_challenge: str | None
    hidden: list[tuple[str, str]]


async def validate(request: Request, params: Params) -> AuthRequest:
    """The checks that must pass before anything is shown; errors here are never redirected (§4.1.2.1)."""
    client_id = params.text("client_id") or ""
    app: OAuthApplication | None = None
    async with request.app.state.sessions() as session:
        if client_documents.is_client_url(client_id):
            app = await client_documents.resolve_client(request.app.state.federation, session, client_id)
            await session.commit()
            if not params.text("code_challenge"):
                raise OAuthError(400, "invalid_request", "A client identified by URL must use PKCE (FEP-d8c2).")
        else:
            app = await grants.find_app(session, client_id) if client_id else None
    if app is None:
        raise OAuthError(400, "invalid_client", "Unknown client: register the app first (client_id).")
    redirect_uri = params.text("redirect_uri") or ""
    if redirect_uri not in app.redirect_uris.split("\n"):
        raise OAuthError(400, "invalid_redirect_uri", "The redirect URI is not one this app registered.")
    if (params.text("response_type") or "") != "code":
        raise OAuthError(400, "unsupported_response_type", "Only response_type=code is supported.")
    scopes = grants.requested_scopes(app, params.text("scope"))
    challenge = params.text("code_challenge") or None
    if challenge is not None:
        if (params.text("code_challenge_method") or "plain") != "S256":
            raise OAuthError(400, "invalid_request", "Only the S256 code challenge method is supported.")
        if not 43 <= len(challenge) <= 128:
            raise OAuthError(400, "invalid_request", "The code challenge must be 43 to 128 characters.")
    # Mastodon.py sends state=None literally; it is echoed exactly as sent (clients.md row 31).
    state = params.text("state")
    hidden = [(name, value) for name in CARRIED if (value := params.text(name)) is not None]
    return AuthRequest(app, redirect_uri, scopes, state, challenge, hidden)


def _action(request: Request) -> str:
    return request.url.path


def _login_page(
    request: Request, auth: AuthRequest, *, status: int = 200, error: str | None = None, username: str = ""
) -> Response:
    policy = websessions.CookiePolicy.for_scheme(request.app.state.settings.instance.scheme)
    scratch = Response()
    csrf = websessions.anonymous_csrf(request, scratch, policy)
    response = render(
        request,
        "login.html",
        status,
        title="Log in",
        app_name=auth.app.name,
        action=_action(request),
        csrf_token=csrf,
        hidden=auth.hidden,
        error=error,
        username=username,
    )
    _copy_cookies(scratch, response)
    return response


def _consent_page(request: Request, auth: AuthRequest, user: User, csrf: str) -> HTMLResponse:
    return render(
        request,
        "consent.html",
        title="Authorize",
        username=user.actor.username,
        app_name=auth.app.name,
        website=auth.app.website,
        scopes=sorted(auth.scopes.names),
        action=_action(request),
        csrf_token=csrf,
        hidden=auth.hidden,
    )


def _copy_cookies(source: Response, target: Response) -> None:
    target.raw_headers.extend((k, v) for k, v in source.raw_headers if k == b"set-cookie")


def _redirect(auth: AuthRequest, values: dict[str, str]) -> Response:
    if auth.state is not None:
        values["state"] = auth.state
    parts = urlsplit(auth.redirect_uri)
    # A registered URI that has a query keeps it (Takahē fixed this: clients.md §1.2).
    query = "&".join(q for q in (parts.query, urlencode(values)) if q)
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)


async def authorize(request: Request) -> Response:
    params = await read_params(request)
    try:
        auth = await validate(request, params)
    except OAuthError as exc:
        return render(request, "error.html", exc.status, title="Authorization failed", message=exc.description)
    async with request.app.state.sessions() as session:
        web = await websessions.current_session(session, request)
        await session.commit()
        if request.method == "GET":
            if web is None or params.flag("force_login"):
                return _login_page(request, auth)
            return _consent_page(request, auth, web.user, web.csrf_token)
        step = params.text("step")
        if step == "login":
            return await _log_in(request, auth, params)
        if web is None:
            return _login_page(request, auth, status=401, error="Your session has ended; log in again.")
        if not websessions.check_csrf(web.csrf_token, params.text("csrf_token")):
            return render(request, "error.html", 403, title="Authorization failed", message="Invalid form token.")
        if step == "deny":
            if auth.redirect_uri == OOB:
                return render(request, "error.html", 200, title="Denied", message="You denied the request.")
            return _redirect(auth, {"error": "access_denied"})
        if step != "approve":
            return render(request, "error.html", 400, title="Authorization failed", message="Unknown step.")
        code = await grants.issue_code(session, auth.app, web.user, auth.redirect_uri, auth.scopes, auth.code_challenge)
        await session.commit()
    if auth.redirect_uri == OOB:
        return render(request, "code.html", title="Authorization code", app_name=auth.app.name, code=code)
    return _redirect(auth, {"code": code})


async def _log_in(request: Request, auth: AuthRequest, params: Params) -> Response:
    if not websessions.check_csrf(request.cookies.get(websessions.CSRF_COOKIE), params.text("csrf_token")):
        return _login_page(request, auth, status=403, error="Invalid form token; try again.")
    username = (params.text("username") or "").strip().lstrip("@")
    limiter: LoginLimiter = request.app.state.login_limiter
    keys = (f"ip:{request.client.host if request.client else '?'}", f"user:{username.lower()}")
    wait = limiter.retry_after(*keys)
    if wait is not None:
        return _login_page(request, auth, status=429, error=f"Too many attempts; wait {int(wait) + 1} s.")
    policy = websessions.CookiePolicy.for_scheme(request.app.state.settings.instance.scheme)
    async with request.app.state.sessions() as session:
        user = await check_credentials(session, username, params.text("password") or "")
        if user is None:
            limiter.failed(*keys)
            await session.commit()
            return _login_page(request, auth, status=401, error="Wrong username or password.", username=username)
        limiter.succeeded(*keys)
        if user.actor.suspended_at is not None:
            await session.commit()
            return _login_page(request, auth, status=403, error="This account is suspended.", username=username)
        scratch = Response()
        web = await websessions.start_session(
            session, user, scratch, policy, user_agent=request.headers.get("user-agent", "")
        )
        await session.commit()
    response = _consent_page(request, auth, user, web.csrf_token)
    _copy_cookies(scratch, response)
    return response


routes = [
    Route("/oauth/authorize", authorize, methods=["GET", "POST"]),
    # toot opens /oauth/authorize/ with a trailing slash (clients.md row 28).
    Route("/oauth/authorize/", authorize, methods=["GET", "POST"]),
]
