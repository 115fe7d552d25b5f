"""The answer to ``POST /api/v1/statuses`` is the Status that ``GET /api/v1/statuses/:id`` shows: it is
rendered without reading counts or the reader's state (none can exist yet), so this checks nothing was
lost by that, and that the account's counts, read in one statement, are right."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.config import Settings
from fediserver.models import Follow
from fediserver.urls import Urls
from tests.mastodon.conftest import TokenFactory
from tests.mastodon.test_api import png, post

Bearer = Callable[[str], dict[str, str]]
STATEMENT_BUDGET = 12


async def test_create__answer_equals_the_status_as_shown_and_account_counts(
    client: httpx.AsyncClient,
    token_for: TokenFactory,
    bearer: Bearer,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    urls = Urls.from_settings(settings)
    headers = bearer(await token_for())
    async with sessions() as session:
        await accounts.create_user(session, "bob", "password-bob")
        for follower, followed in (("bob", "alice"), ("alice", "bob")):
            session.add(
                Follow(
                    activity_uri=f"{urls.actor(follower)}#follow",
                    follower_uri=urls.actor(follower),
                    followed_uri=urls.actor(followed),
                    state="accepted",
                )
            )
        await session.commit()
    root = await post(client, headers, "root #tagged")
    media = (await client.post("/api/v2/media", headers=headers, files={"file": ("a.png", png(), "image/png")})).json()
    created = await post(client, headers, "a reply with an image", in_reply_to_id=root["id"], media_ids=[media["id"]])
    shown = (await client.get(f"/api/v1/statuses/{created['id']}", headers=headers)).json()
    assert created == shown
    assert [m["id"] for m in created["media_attachments"]] == [media["id"]]
    assert created["in_reply_to_id"] == root["id"]
    counts = {k: created["account"][k] for k in ("statuses_count", "followers_count", "following_count")}
    assert counts == {"statuses_count": 2, "followers_count": 1, "following_count": 1}
    # The twin: once the status has a favourite, what GET shows differs from the answer to its creation.
    await client.post(f"/api/v1/statuses/{created['id']}/favourite", headers=headers)
    later = (await client.get(f"/api/v1/statuses/{created['id']}", headers=headers)).json()
    assert (later["favourites_count"], later["favourited"]) == (1, True)
    assert (created["favourites_count"], created["favourited"]) == (0, False)


async def test_create__statement_budget(client: httpx.AsyncClient, token_for: TokenFactory, bearer: Bearer) -> None:
    """Creating a status with an image, and answering it, takes a fixed, small number of statements
    (issue 10, Speed: each is a round trip, and they were most of its time). Was 27 before the answer
    stopped reading counts the new status cannot have; a new statement here should be a deliberate one."""
    headers = bearer(await token_for())
    media = (await client.post("/api/v2/media", headers=headers, files={"file": ("a.png", png(), "image/png")})).json()
    seen: list[str] = []

    def keep(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        # The streaming relay reads the outbox after each commit, beside the request.
        if "FROM stream_events" not in statement:
            seen.append(statement.split("\n", 1)[0])

    event.listen(Engine, "before_cursor_execute", keep)
    try:
        await post(client, headers, "counted", media_ids=[media["id"]])
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    assert len(seen) <= STATEMENT_BUDGET, "\n".join(seen)
