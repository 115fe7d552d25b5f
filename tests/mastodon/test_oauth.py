"""The OAuth server over ASGI: registration, the authorize page's forms, token grants and their errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from fediserver.models import User
from tests.federation.test_mastodon_api import parse_form
from tests.mastodon.conftest import PASSWORD, TokenFactory

REDIRECT = "https://app.example/cb?keep=1"


async def register(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    body = {"client_name": "An App", "redirect_uris": [REDIRECT], "scopes": "read write", **extra}
    response = await client.post("/api/v1/apps", json=body)
    assert response.status_code == 200, response.text
    app: dict[str, Any] = response.json()
    return app


async def authorize(
    client: httpx.AsyncClient, app: dict[str, Any], *, step: str = "approve", **query: str
) -> httpx.Response:
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT, **query}
    page = await client.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    action, fields, _ = parse_form(page.text)
    fields.update(username="alice", password=PASSWORD)
    consent = await client.post(action, data=fields)
    assert consent.status_code == 200, consent.text
    action, fields, _ = parse_form(consent.text)
    fields["step"] = step
    return await client.post(action, data=fields)


async def test_apps__credential_application_shape(client: httpx.AsyncClient) -> None:
    app = await register(client)
    for key in ("id", "name", "website", "scopes", "redirect_uris", "redirect_uri", "client_id", "client_secret"):
        assert key in app
    assert app["redirect_uri"] == REDIRECT
    assert app["scopes"] == ["read", "write"]
    assert app["client_secret_expires_at"] == 0
    bad = await client.post("/api/v1/apps", data={"client_name": "x", "redirect_uris": "javascript:alert(1)"})
    assert bad.status_code == 422
    assert "Validation failed" in bad.json()["error"]


async def test_code_flow__redirect_keeps_query_and_state_then_token_and_api(
    client: httpx.AsyncClient, alice: User
) -> None:
    app = await register(client)
    done = await authorize(client, app, state="None", scope="read+write")
    assert done.status_code == 302
    location = urlsplit(done.headers["location"])
    query = parse_qs(location.query)
    assert location.netloc == "app.example"
    assert query["keep"] == ["1"]
    assert query["state"] == ["None"]
    form = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "redirect_uri": REDIRECT,
    }
    # Ice Cubes sends every parameter in the query string with an empty body.
    token = await client.post("/oauth/token", params=form)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["scope"] == "read write"
    assert body["refresh_token"]
    again = await client.post("/oauth/token", data=form)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    me = await client.get(
        "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["acct"] == "alice"
    refreshed = await client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert refreshed.status_code == 200
    old = await client.get(
        "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert old.status_code == 401
    new = refreshed.json()["access_token"]
    revoked = await client.post(
        "/oauth/revoke", data={"token": new, "client_id": app["client_id"], "client_secret": app["client_secret"]}
    )
    assert revoked.status_code == 200
    assert revoked.json() == {}
    gone = await client.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {new}"})
    assert gone.status_code == 401
    assert gone.json() == {"error": "The access token is invalid"}


async def test_deny__redirects_access_denied(client: httpx.AsyncClient, alice: User) -> None:
    app = await register(client)
    done = await authorize(client, app, step="deny", state="s1")
    assert done.status_code == 302
    assert parse_qs(urlsplit(done.headers["location"]).query) == {
        "keep": ["1"],
        "error": ["access_denied"],
        "state": ["s1"],
    }


async def test_login_form__csrf_and_password_checked(client: httpx.AsyncClient, alice: User) -> None:
    app = await register(client)
    params = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT}
    page = await client.get("/oauth/authorize/", params=params)
    action, fields, _ = parse_form(page.text)
    wrong = await client.post(action, data={**fields, "username": "alice", "password": PASSWORD + "x"})
    assert wrong.status_code == 401
    assert "fediserver_session" not in client.cookies
    forged = await client.post(
        action, data={**fields, "csrf_token": fields["csrf_token"] + "x", "username": "alice", "password": PASSWORD}
    )
    assert forged.status_code == 403
    assert "fediserver_session" not in client.cookies
    ok = await client.post(action, data={**fields, "username": "alice", "password": PASSWORD})
    assert ok.status_code == 200
    consent_action, consent_fields, _ = parse_form(ok.text)
    forged_consent = await client.post(consent_action, data={**consent_fields, "step": "approve", "csrf_token": "x"})
    assert forged_consent.status_code == 403


async def test_authorize__unknown_client_or_redirect_is_shown_not_redirected(client: httpx.AsyncClient) -> None:
    app = await register(client)
    for params in (
        {"response_type": "code", "client_id": "nope", "redirect_uri": REDIRECT},
        {"response_type": "code", "client_id": app["client_id"], "redirect_uri": "https://evil.example/"},
        {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT, "scope": "follow"},
    ):
        page = await client.get("/oauth/authorize", params=params)
        assert page.status_code == 400
        assert "location" not in page.headers


async def test_token__errors_as_mastodon(client: httpx.AsyncClient) -> None:
    app = await register(client)
    password = await client.post(
        "/oauth/token", data={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert password.status_code == 400
    assert password.json()["error"] == "unsupported_grant_type"
    wrong = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"] + "x",
        },
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    scope = await client.post(
        "/oauth/token",
        auth=(app["client_id"], app["client_secret"]),
        data={"grant_type": "client_credentials", "scope": "read follow"},
    )
    assert scope.status_code == 400
    assert scope.json()["error"] == "invalid_scope"
    app_token = await client.post(
        "/oauth/token", auth=(app["client_id"], app["client_secret"]), json={"grant_type": "client_credentials"}
    )
    assert app_token.status_code == 200
    headers = {"Authorization": f"Bearer {app_token.json()['access_token']}"}
    verified = await client.get("/api/v1/apps/verify_credentials", headers=headers)
    assert verified.status_code == 200
    assert verified.json()["name"] == "An App"
    # An app token is not a user: Mastodon answers 422 on user endpoints.
    user_only = await client.get("/api/v1/accounts/verify_credentials", headers=headers)
    assert user_only.status_code == 422


async def test_scopes__403_outside_them(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Callable[[str], dict[str, str]]
) -> None:
    read_only = await token_for("read")
    posted = await client.post("/api/v1/statuses", headers=bearer(read_only), data={"status": "hi"})
    assert posted.status_code == 403
    assert posted.json() == {"error": "This action is outside the authorized scopes"}
    writer = await token_for("write:statuses")
    allowed = await client.post("/api/v1/statuses", headers=bearer(writer), data={"status": "hi"})
    assert allowed.status_code == 200


async def test_metadata__rfc8414(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert doc["issuer"] == "http://127.0.0.1:8000/"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "password" not in doc["grant_types_supported"]
    assert doc["token_endpoint"] == "http://127.0.0.1:8000/oauth/token"
    assert re.match(r"^http://127\.0\.0\.1:8000/api/v1/apps$", doc["app_registration_endpoint"])


async def test_userinfo__needs_profile(
    client: httpx.AsyncClient, token_for: TokenFactory, bearer: Callable[[str], dict[str, str]]
) -> None:
    assert (await client.get("/oauth/userinfo", headers=bearer(await token_for("read")))).status_code == 403
    info = (await client.get("/oauth/userinfo", headers=bearer(await token_for("profile")))).json()
    assert info["sub"] == "http://127.0.0.1:8000/users/alice"
    assert info["preferred_username"] == "alice"
