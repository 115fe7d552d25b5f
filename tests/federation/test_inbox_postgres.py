"""The inbox on PostgreSQL, whose columns and JSON refuse what SQLite stores silently (issue 8).

Each run gets a database of its own (the server is shared), dropped afterwards.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

import activitypub as ap
from fediserver.db import make_engine
from fediserver.models import InboundActivity

pytestmark = pytest.mark.postgres
POSTGRES_ENV = "FEDISERVER_TEST_DATABASE_URL"
Factory = Callable[..., Awaitable[Any]]


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    name = f"inbox_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _post(target: Any, body: bytes, key: tuple[str, ap.PrivateKey]) -> httpx.Response:
    url = target.fed.urls.shared_inbox()
    headers = ap.sign_request(
        method="POST", url=url, headers={"content-type": ap.ACTIVITY_JSON}, body=body, key_id=key[0],
        private_key=key[1], now=datetime.now(UTC),
    )  # fmt: skip
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(url, content=body, headers=headers)


async def test_postgres_inbox__refuses_what_postgres_would_raise_on(instances: Factory, postgres_url: str) -> None:
    a = await instances("a", ["alice"], database={"url": postgres_url}, worker={"poll_interval": 3600})
    b = await instances("b", ["bob"])
    async with b.sessions() as session:
        bob_row = await b.user(session, "bob")
        key = (b.fed.urls.actor_key("bob"), ap.load_private_key(bob_row.private_key_pem))
    bob = b.actor_url("bob")
    prefix = f"{bob}#likes/"

    def like(activity_id: str, **extra: Any) -> bytes:
        doc = {"@context": ap.AS_CONTEXT, "id": activity_id, "type": "Like", "actor": bob, "object": bob, **extra}
        return json.dumps(doc).encode()

    refused = [
        like(prefix + "x" * (2049 - len(prefix))),
        like(prefix + "nul", content="a\u0000b"),
        like(prefix + "surrogate", summary="\ud800"),
        like(prefix + "list-id", object={"id": [bob]}),
    ]
    for body in refused:
        response = await _post(a, body, key)
        assert response.status_code == 400, response.text
    longest = like(prefix + "x" * (2048 - len(prefix)))
    assert (await _post(a, longest, key)).status_code == 202
    assert (await _post(a, longest, key)).status_code == 202, "a repeat is accepted once"
    async with a.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(InboundActivity)) == 1


async def test_postgres__nul_in_a_path_or_query_is_400(instances: Factory, postgres_url: str) -> None:
    a = await instances("a", ["alice"], database={"url": postgres_url}, worker={"poll_interval": 3600})
    async with httpx.AsyncClient(timeout=30) as http:
        for target in [
            "/users/a%00b",
            "/users/a%00b/outbox",
            "/.well-known/webfinger?resource=acct:a%00b@x",
            "/media/%00",
        ]:
            response = await http.get(a.base + target, headers={"accept": ap.ACTIVITY_JSON})
            assert response.status_code == 400, (target, response.text)
            assert "NUL" in response.json()["error"]
        twin = await http.get(a.base + "/users/alice", headers={"accept": ap.ACTIVITY_JSON})
    assert twin.status_code == 200
