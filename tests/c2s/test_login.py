"""FEP-d8c2 as far as we implement it: a client finds the OAuth endpoints in the actor's ``endpoints``,
logs in with the authorization-code flow and PKCE S256 through the server's own pages, and posts to the
outbox with the token it got. This client registered through ``/api/v1/apps``; d8c2's client documents
(a URL as ``client_id``) are in ``test_client_documents.py``."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

from tests.c2s.conftest import PUBLIC, ClientFor
from tests.federation.test_mastodon_api import authorize_in_browser

OOB = "urn:ietf:wg:oauth:2.0:oob"


async def test_6__client_logs_in_through_the_actor_endpoints_and_posts(instances: Any, client_for: ClientFor) -> None:
    a = await instances("a", ["alice"])
    anonymous = await client_for(a, "alice", token=None)
    endpoints = (await anonymous.actor_doc())["endpoints"]
    app = await anonymous.http.post(
        f"{a.base}/api/v1/apps", data={"client_name": "c2s", "redirect_uris": OOB, "scopes": "read write"}
    )
    assert app.status_code == 200, app.text
    client_id, client_secret = app.json()["client_id"], app.json()["client_secret"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": OOB,
            "scope": "read write",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    code = await authorize_in_browser(
        a.base, f"{endpoints['oauthAuthorizationEndpoint']}?{query}", "alice", "password-alice"
    )
    token = await anonymous.http.post(
        endpoints["oauthTokenEndpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": OOB,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    alice = await client_for(a, "alice", token=token.json()["access_token"])
    answer = await alice.post({"type": "Note", "content": "from my own client", "to": [PUBLIC]})
    assert answer.status_code == 201, answer.text
    assert (await alice.get(answer.headers["Location"])).json()["actor"] == alice.actor
