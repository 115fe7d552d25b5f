"""FEP-d8c2 client ids: a client that never registered uses the URL of its client document as ``client_id``;
the server fetches it (through the outbound guard), checks ``redirect_uri`` against its ``redirectURI`` and
requires PKCE. The document is served by a real loopback server."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.c2s.conftest import PUBLIC, ClientFor
from tests.federation.test_mastodon_api import authorize_in_browser

OOB = "urn:ietf:wg:oauth:2.0:oob"
OAUTH_CONTEXT = "https://purl.archive.org/socialweb/oauth"


def client_app(documents: dict[str, dict[str, Any]]) -> Starlette:
    """Serves ``documents[path]`` at ``path`` as AS2, with the id filled in from the request URL."""

    async def document(request: Request) -> Response:
        doc = documents.get(request.url.path)
        if doc is None:
            return Response(status_code=404)
        url = str(request.url)
        body = {"@context": ["https://www.w3.org/ns/activitystreams", OAUTH_CONTEXT], "id": url, **doc}
        return JSONResponse(body, media_type="application/activity+json")

    return Starlette(routes=[Route("/{path:path}", document)])


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_query(client_id: str, redirect_uri: str, challenge: str | None) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "read write"}
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return urlencode(params)


async def test_fep_d8c2__client_document_url_as_client_id(
    instances: Any, client_for: ClientFor, serve_app: Callable[[Starlette], Awaitable[str]]
) -> None:
    a = await instances("a", ["alice"])
    docs = {"/client": {"type": "Application", "name": "Doc Client", "redirectURI": [OOB]}}
    client_id = f"{await serve_app(client_app(docs))}/client"
    anonymous = await client_for(a, "alice", token=None)
    endpoints = (await anonymous.actor_doc())["endpoints"]
    verifier, challenge = pkce()
    authorize = f"{endpoints['oauthAuthorizationEndpoint']}?{authorize_query(client_id, OOB, challenge)}"
    code = await authorize_in_browser(a.base, authorize, "alice", "password-alice")
    exchange = {"grant_type": "authorization_code", "code": code, "client_id": client_id, "redirect_uri": OOB}
    # a wrong verifier is refused (the twin of the exchange below); no client secret is needed
    wrong = await anonymous.http.post(endpoints["oauthTokenEndpoint"], data={**exchange, "code_verifier": "x" * 50})
    assert wrong.status_code == 400
    token = await anonymous.http.post(endpoints["oauthTokenEndpoint"], data={**exchange, "code_verifier": verifier})
    assert token.status_code == 200, token.text
    alice = await client_for(a, "alice", token=token.json()["access_token"])
    answer = await alice.post({"type": "Note", "content": "from a client document", "to": [PUBLIC]})
    assert answer.status_code == 201, answer.text


async def test_fep_d8c2__redirect_uri_must_be_listed_in_the_document(
    instances: Any, client_for: ClientFor, serve_app: Callable[[Starlette], Awaitable[str]]
) -> None:
    a = await instances("a", ["alice"])
    docs: dict[str, dict[str, Any]] = {
        "/client": {"type": "Application", "name": "Doc", "redirectURI": "https://client.example/callback"},
        "/person": {"type": "Person", "redirectURI": [OOB]},
        "/none": {"type": "Service", "name": "No redirects"},
    }
    base = await serve_app(client_app(docs))
    anonymous = await client_for(a, "alice", token=None)
    authorize = (await anonymous.actor_doc())["endpoints"]["oauthAuthorizationEndpoint"]
    _, challenge = pkce()

    async def ask(path: str, redirect_uri: str, with_pkce: bool = True) -> Any:
        query = authorize_query(f"{base}{path}", redirect_uri, challenge if with_pkce else None)
        return await anonymous.http.get(f"{authorize}?{query}")

    listed = await ask("/client", "https://client.example/callback")
    assert listed.status_code == 200, listed.text
    mismatched = await ask("/client", "https://client.example/callbacK")
    assert mismatched.status_code == 400
    assert "redirect" in mismatched.text.lower()
    assert (await ask("/client", "https://client.example/callback", with_pkce=False)).status_code == 400
    assert (await ask("/person", OOB)).status_code == 400
    assert (await ask("/none", OOB)).status_code == 400
    assert (await ask("/missing", OOB)).status_code == 400
