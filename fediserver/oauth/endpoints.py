"""The OAuth endpoints apps call without a browser: apps, token, revoke, userinfo, RFC 8414 metadata.

Shapes follow docs.joinmastodon.org/methods/apps/ and /methods/oauth/; what clients send is in
``shared/docs/clients.md`` §1.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fediserver.mastodon.auth import Forbidden, caller
from fediserver.mastodon.params import Params, read_params
from fediserver.models import OAuthApplication
from fediserver.oauth import client_documents, grants
from fediserver.oauth.grants import OAuthError
from fediserver.oauth.scopes import KNOWN, InvalidScope, Scopes
from fediserver.urls import Urls

GRANT_TYPES = ["authorization_code", "client_credentials", "refresh_token"]


def oauth_error(exc: OAuthError) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="oauth"'} if exc.status == 401 else None
    if exc.status == 422:
        return JSONResponse({"error": exc.description}, status_code=422)
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description}, status_code=exc.status, headers=headers
    )


def application_entity(app: OAuthApplication, *, scopes: Scopes | None = None) -> dict[str, Any]:
    """Application (docs.joinmastodon.org/entities/Application/)."""
    uris = app.redirect_uris.split("\n")
    return {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": sorted((scopes or Scopes.parse(app.scopes)).names),
        "redirect_uris": uris,
        # Deprecated, but megalodon builds its authorize URL from it (clients.md §1.1).
        "redirect_uri": app.redirect_uris,
        "vapid_key": None,
    }


async def create_app(request: Request) -> Response:
    """POST /api/v1/apps: a CredentialApplication with the client secret, shown this once."""
    params = await read_params(request)
    name = (params.text("client_name") or "").strip()
    if not name:
        return JSONResponse({"error": "Validation failed: Application name can't be blank"}, status_code=422)
    raw_uris: Any = params.values.get("redirect_uris") or []
    try:
        uris = grants.parse_redirect_uris([str(u) for u in raw_uris])
        scopes = Scopes.parse(params.text("scopes"))
    except OAuthError as exc:
        return oauth_error(exc)
    except InvalidScope as exc:
        return JSONResponse({"error": f"Validation failed: {exc}"}, status_code=422)
    async with request.app.state.sessions() as session:
        app, secret = await grants.register_app(session, name, uris, scopes, params.text("website"))
        await session.commit()
    body = application_entity(app)
    body.update(client_id=app.client_id, client_secret=secret, client_secret_expires_at=0)
    return JSONResponse(body)


async def verify_app(request: Request) -> Response:
    """GET /api/v1/apps/verify_credentials: any valid token, user or app (4.3 adds scopes and URIs)."""
    async with request.app.state.sessions() as session:
        found = await caller(request, session, user=False)
        app = found.token.application
    if app is None:
        # A token made by `fediserver token create` without an app.
        return JSONResponse({"name": "fediserver CLI", "website": None, "scopes": sorted(found.scopes.names)})
    return JSONResponse(application_entity(app, scopes=found.scopes))


def _client_credentials(request: Request, params: Params) -> tuple[str, str]:
    """HTTP Basic (client_secret_basic) or form fields (client_secret_post), RFC 6749 §2.3.1."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client", "Malformed Basic credentials.") from None
        from urllib.parse import unquote_plus

        return unquote_plus(client_id), unquote_plus(secret)
    return params.text("client_id") or "", params.text("client_secret") or ""


def token_entity(issued: grants.IssuedToken) -> dict[str, Any]:
    """Token (docs.joinmastodon.org/entities/Token/); ``scope`` echoes every granted scope (clients.md row 12)."""
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "scope": issued.row.scopes,
        "created_at": int(issued.row.created_at.timestamp()),
    }
    if issued.refresh_token:
        body["refresh_token"] = issued.refresh_token
    return body


async def _token_client(session: AsyncSession, client_id: str, secret: str, grant_type: str) -> OAuthApplication:
    """The client: a FEP-d8c2 document client (public, PKCE-bound codes; a secret is ignored) for the code and
    refresh grants, else a registered app authenticated by its secret."""
    if client_documents.is_client_url(client_id) and grant_type != "client_credentials":
        app = await client_documents.find_by_url(session, client_id)
        if app is None:
            raise OAuthError(401, "invalid_client", "Unknown client: authorize with this client_id first.")
        return app
    return await grants.authenticate_client(session, client_id, secret)


async def token(request: Request) -> Response:
    """POST /oauth/token (RFC 6749 §4.1.3, §4.4, §6); the password grant is refused as Mastodon 4.3 does."""
    params = await read_params(request)
    grant_type = params.text("grant_type") or ""
    try:
        if grant_type not in GRANT_TYPES:
            raise OAuthError(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        client_id, secret = _client_credentials(request, params)
        async with request.app.state.sessions() as session:
            app = await _token_client(session, client_id, secret, grant_type)
            if grant_type == "authorization_code":
                code = params.text("code") or ""
                issued = await grants.exchange_code(
                    session, app, code, params.text("redirect_uri") or "", params.text("code_verifier")
                )
            elif grant_type == "client_credentials":
                scopes = grants.requested_scopes(app, params.text("scope"))
                issued = await grants.issue_token(session, app, None, scopes, refresh=False)
            else:
                issued = await grants.refresh_grant(session, app, params.text("refresh_token") or "")
            await session.commit()
    except OAuthError as exc:
        return oauth_error(exc)
    return JSONResponse(token_entity(issued), headers={"Cache-Control": "no-store"})


async def revoke(request: Request) -> Response:
    """POST /oauth/revoke (RFC 7009): 200 {} whether or not the token existed."""
    params = await read_params(request)
    try:
        client_id, secret = _client_credentials(request, params)
        async with request.app.state.sessions() as session:
            app = await grants.authenticate_client(session, client_id, secret)
            await grants.revoke(session, app, params.text("token") or "")
            await session.commit()
    except OAuthError as exc:
        return oauth_error(exc)
    return JSONResponse({})


async def userinfo(request: Request) -> Response:
    """GET/POST /oauth/userinfo (OpenID Connect core §5.3; Mastodon 4.4): ``sub`` is the actor URI."""
    urls: Urls = request.app.state.urls
    async with request.app.state.sessions() as session:
        found = await caller(request, session)
        if not found.scopes.allows("profile"):
            raise Forbidden("This action is outside the authorized scopes")
        actor = found.actor
    return JSONResponse(
        {
            "iss": urls.base + "/",
            "sub": urls.actor(actor.username),
            "name": actor.display_name or actor.username,
            "preferred_username": actor.username,
            "profile": urls.profile(actor.username),
            "picture": urls.static_placeholder("avatar.png"),
        }
    )


async def metadata(request: Request) -> Response:
    """GET /.well-known/oauth-authorization-server (RFC 8414 §2, as Mastodon's OauthMetadataPresenter)."""
    urls: Urls = request.app.state.urls
    return JSONResponse(
        {
            "issuer": urls.base + "/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": urls.api("/oauth/authorize"),
            "token_endpoint": urls.api("/oauth/token"),
            "revocation_endpoint": urls.api("/oauth/revoke"),
            "userinfo_endpoint": urls.api("/oauth/userinfo"),
            "app_registration_endpoint": urls.api("/api/v1/apps"),
            "scopes_supported": sorted(KNOWN),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": GRANT_TYPES,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            # FEP-d8c2: a client may name itself by the URL of its client document (``client_documents``).
            "activitypub_object_id_as_client_id": True,
        }
    )


routes = [
    Route("/api/v1/apps", create_app, methods=["POST"]),
    Route("/api/v1/apps/verify_credentials", verify_app),
    Route("/oauth/token", token, methods=["POST"]),
    Route("/oauth/revoke", revoke, methods=["POST"]),
    Route("/oauth/userinfo", userinfo, methods=["GET", "POST"]),
    Route("/.well-known/oauth-authorization-server", metadata),
]
