"""A C2S client written with plain httpx: it finds the outbox in the actor document and POSTs to it with
a bearer token (FEP-d8c2); tokens are issued as the OAuth server issues them (``fediserver.oauth.grants``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fediserver.models import User
from fediserver.oauth import grants
from fediserver.oauth.grants import OOB
from fediserver.oauth.scopes import Scopes
from tests.federation.conftest import Instance, instances, serve_app, wait

__all__ = ["instances", "serve_app", "wait"]

AS2 = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


async def user_token(server: Instance, username: str, scopes: str = "read write follow") -> str:
    async with server.sessions() as session:
        actor = await server.user(session, username)
        user = await session.scalar(select(User).where(User.actor_id == actor.id))
        parsed = Scopes.parse(scopes)
        app, _ = await grants.register_app(session, "c2s test", [OOB], parsed, None)
        issued = await grants.issue_token(session, app, user, parsed)
        await session.commit()
        return issued.access_token


@dataclass
class Client:
    """What a C2S client knows: its actor's URL and a token."""

    http: httpx.AsyncClient
    actor: str
    token: str | None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def actor_doc(self) -> dict[str, Any]:
        answer = await self.http.get(self.actor, headers={"Accept": "application/activity+json"})
        answer.raise_for_status()
        doc: dict[str, Any] = answer.json()
        return doc

    async def post(self, body: Any, **headers: str) -> httpx.Response:
        outbox = (await self.actor_doc())["outbox"]
        content = body if isinstance(body, bytes) else httpx.Request("POST", "http://x", json=body).content
        sent = {"Content-Type": AS2, **self.auth, **headers}
        return await self.http.post(outbox, content=content, headers=sent)

    async def get(self, url: str) -> httpx.Response:
        return await self.http.get(url, headers={"Accept": "application/activity+json", **self.auth})


ClientFor = Callable[..., Awaitable[Client]]


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFor]:
    """``await client_for(server, "alice", scopes)``: a logged-in client; ``token=None`` for none."""
    http = httpx.AsyncClient(timeout=20)

    async def make(server: Instance, username: str, scopes: str = "read write follow", **kw: Any) -> Client:
        token = kw["token"] if "token" in kw else await user_token(server, username, scopes)
        return Client(http, server.actor_url(username), token)

    yield make
    await http.aclose()


def problem_text(answer: httpx.Response) -> str:
    """A FEP-c180 refusal's ``type`` and ``detail`` together, after checking its shape (RFC 9457 §3)."""
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    body = answer.json()
    assert body["status"] == answer.status_code
    assert isinstance(body["title"], str)
    assert body["title"]
    return f"{body['type']} {body['detail']}"
