"""Status ``mentions``, ``tags`` and ``emojis`` (docs.joinmastodon.org/entities/Status/): filled from the
note's AS2 tags, for local posts and for remote ones as ``note_to_model`` stores them."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.config import Settings
from fediserver.federation.convert import mention_and_hashtag_tags
from fediserver.mastodon.entities.status import emoji_entities, mention_entities, tag_entities
from fediserver.models import Note, Notification
from fediserver.urls import Urls
from tests.mastodon.conftest import TokenFactory
from tests.mastodon.test_api import post

Bearer = Callable[[str], dict[str, str]]


async def test_status__mentions_and_tags_name_the_mentioned_account_and_the_tag_page(
    client: httpx.AsyncClient,
    token_for: TokenFactory,
    bearer: Bearer,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    urls = Urls.from_settings(settings)
    async with sessions() as session:
        await accounts.create_user(session, "bob", "password-bob")
        await session.commit()
    headers = bearer(await token_for())
    tagged = await post(client, headers, "hello @bob, look #Cats")
    bob = (await client.get("/api/v1/accounts/lookup", params={"acct": "bob"}, headers=headers)).json()
    assert tagged["mentions"] == [{"id": bob["id"], "username": "bob", "url": bob["url"], "acct": "bob"}]
    assert tagged["tags"] == [{"name": "Cats", "url": urls.tag("Cats")}]
    shown = (await client.get(f"/api/v1/statuses/{tagged['id']}", headers=headers)).json()
    assert (shown["mentions"], shown["tags"]) == (tagged["mentions"], tagged["tags"])
    # bob's mention notification carries the post's time (the home timeline pages mentions by it).
    async with sessions() as session:
        when = await session.scalar(select(Notification.subject_at).where(Notification.type == "mention"))
        published = await session.scalar(select(Note.published_at).where(Note.uri == tagged["uri"]))
    assert when is not None
    assert when == published
    # The twin: a post with neither has empty lists, not the last post's.
    plain = await post(client, headers, "nothing to see")
    assert (plain["mentions"], plain["tags"], plain["emojis"]) == ([], [], [])


def test_remote_tags__mentions_and_hashtags_kept_the_rest_dropped() -> None:
    tags = mention_and_hashtag_tags(
        [
            {"type": "Mention", "href": "https://a.example/users/x", "name": "@x@a.example"},
            {"type": "Hashtag", "href": "https://a.example/tags/dogs", "name": "#Dogs"},
            {"type": "Emoji", "name": ":e:", "icon": {"url": "https://a.example/e.png"}},
            {"type": "Mention", "name": "@nohref"},
            {"type": "Hashtag", "name": ["#notastring"]},
            "https://a.example/not-an-object",
        ]
    )
    assert tags == [
        {"type": "Mention", "href": "https://a.example/users/x", "name": "@x@a.example"},
        {"type": "Hashtag", "href": "https://a.example/tags/dogs", "name": "#Dogs"},
    ]
    note = Note(uri="https://a.example/n/1", attributed_to="https://a.example/users/y", tags=tags)
    note.emojis = [{"shortcode": "e", "url": "https://a.example/e.png"}]
    known = {
        "https://a.example/users/x": {"id": "7", "username": "x", "url": "https://a.example/@x", "acct": "x@a.example"}
    }
    assert mention_entities(note, known) == [
        {"id": "7", "username": "x", "url": "https://a.example/@x", "acct": "x@a.example"}
    ]
    # An account we have not resolved is left out, as Mastodon does.
    assert mention_entities(note, {}) == []
    urls = Urls(scheme="https", domain="here.example")
    assert tag_entities(note, urls) == [{"name": "Dogs", "url": "https://here.example/tags/dogs"}]
    assert emoji_entities(note) == [
        {
            "shortcode": "e",
            "url": "https://a.example/e.png",
            "static_url": "https://a.example/e.png",
            "visible_in_picker": False,
        }
    ]
