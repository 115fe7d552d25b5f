"""Discovery and documents: WebFinger, NodeInfo, actors, negotiation, collections, notes (checklist 1–13, 42)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import activitypub as ap
from fediserver.domain.posts import PostDraft, publish_post
from fediserver.federation import following
from fediserver.models import Follow, Note

Factory = Callable[..., Awaitable[Any]]
AS2_ACCEPTS = [
    "application/activity+json",
    "application/ld+json",
    'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
    "text/html;q=0.5, application/activity+json",
    'application/ld+json; q=0.9; profile="https://www.w3.org/ns/activitystreams", text/html;q=0.1',
]


@pytest.fixture
async def site(instances: Factory) -> Any:
    return await instances("a", ["alice"])


async def _get(url: str, accept: str = "application/activity+json", **headers: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(url, headers={"accept": accept, **headers})


async def test_webfinger__resolves_to_the_actor_id(site: Any) -> None:
    domain = site.settings.instance.domain
    response = await _get(f"{site.base}/.well-known/webfinger?resource=acct:ALICE@{domain}", "application/jrd+json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jrd+json")
    jrd = response.json()
    assert jrd["subject"] == f"acct:alice@{domain}"
    assert ap.self_link(jrd) == site.actor_url("alice")
    missing = await _get(f"{site.base}/.well-known/webfinger?resource=acct:nobody@{domain}")
    assert missing.status_code == 404
    bad = await _get(f"{site.base}/.well-known/webfinger")
    assert bad.status_code == 400


async def test_nodeinfo__links_2_0_and_2_1_and_the_instance_actor(site: Any) -> None:
    links = (await _get(f"{site.base}/.well-known/nodeinfo", "application/json")).json()["links"]
    rels = {link["rel"]: link["href"] for link in links}
    assert rels["http://nodeinfo.diaspora.software/ns/schema/2.1"] == f"{site.base}/nodeinfo/2.1"
    assert rels["http://nodeinfo.diaspora.software/ns/schema/2.0"] == f"{site.base}/nodeinfo/2.0"
    assert rels["https://www.w3.org/ns/activitystreams#Application"] == f"{site.base}/actor"
    doc = await _get(f"{site.base}/nodeinfo/2.1", "application/json")
    assert "profile=" in doc.headers["content-type"]
    body = doc.json()
    assert body["software"]["name"] == "fediserver"
    assert body["protocols"] == ["activitypub"]
    assert body["usage"]["users"]["total"] == 1


@pytest.mark.parametrize("accept", AS2_ACCEPTS)
async def test_actor__as2_for_every_as2_accept(site: Any, accept: str) -> None:
    response = await _get(site.actor_url("alice"), accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/activity+json"
    assert "Accept" in response.headers["vary"]
    actor = response.json()
    assert actor["id"] == site.actor_url("alice")
    assert ap.AS_CONTEXT in actor["@context"]
    assert ap.SECURITY_V1_CONTEXT in actor["@context"]
    assert actor["type"] == "Person"
    assert actor["preferredUsername"] == "alice"
    for key in ("inbox", "outbox", "followers", "following"):
        assert actor[key].startswith(actor["id"])
    assert actor["endpoints"]["sharedInbox"] == f"{site.base}/inbox"
    assert actor["publicKey"]["owner"] == actor["id"]
    assert actor["publicKey"]["id"] == site.fed.urls.actor_key("alice")
    assert ap.load_public_key(actor["publicKey"]["publicKeyPem"]).key_size >= 2048  # type: ignore[union-attr]
    for flag in ("manuallyApprovesFollowers", "discoverable", "indexable"):
        assert isinstance(actor[flag], bool)


async def test_actor__browsers_get_html_with_an_alternate_link(site: Any) -> None:
    response = await _get(site.actor_url("alice"), "text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.headers["content-type"].startswith("text/html")
    assert "Accept" in response.headers["vary"]
    assert f'<link rel="alternate" type="application/activity+json" href="{site.actor_url("alice")}">' in response.text


async def test_instance_actor__is_an_application_fetchable_unsigned(site: Any) -> None:
    actor = (await _get(f"{site.base}/actor")).json()
    assert actor["type"] == "Application"
    assert actor["id"] == f"{site.base}/actor"
    assert actor["publicKey"]["owner"] == actor["id"]


async def test_unknown_user__404(site: Any) -> None:
    assert (await _get(f"{site.base}/users/nobody")).status_code == 404


async def _post_as(instance: Any, user: str, text: str, visibility: str) -> Note:
    async with instance.sessions() as session:
        me = await instance.user(session, user)
        note = await publish_post(instance.app.state.services, session, me, PostDraft(text=text, visibility=visibility))
        await session.commit()
        return note


async def _signed_get(url: str, signer: Any, username: str) -> httpx.Response:
    async with signer.sessions() as session:
        actor = await signer.user(session, username)
        key = ap.load_private_key(actor.private_key_pem)
    headers = ap.sign_request(
        method="GET", url=url, headers={"accept": ap.ACTIVITY_JSON}, body=None,
        key_id=signer.fed.urls.actor_key(username), private_key=key, now=datetime.now(UTC),
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        return await http.get(url, headers=headers)


async def test_notes__public_served_private_only_to_followers(instances: Factory, wait: Any) -> None:
    a = await instances("a", ["alice"])
    b = await instances("b", ["bob", "eve"])
    public = await _post_as(a, "alice", "for everyone", "public")
    private = await _post_as(a, "alice", "for followers", "followers")
    doc = (await _get(public.uri)).json()
    assert doc["id"] == public.uri
    assert doc["attributedTo"] == a.actor_url("alice")
    assert doc["to"] == [ap.PUBLIC]
    assert doc["cc"] == [a.fed.urls.followers("alice")]
    for key in ("content", "published", "url", "tag", "attachment", "sensitive"):
        assert key in doc
    activity = (await _get(public.uri + "/activity")).json()
    assert activity["type"] == "Create"
    assert activity["object"]["id"] == public.uri
    # Followers-only: absent to anonymous and to a non-follower, present to a follower.
    assert (await _get(private.uri)).status_code == 401
    assert (await _signed_get(private.uri, b, "eve")).status_code == 404
    async with b.sessions() as session:
        await following.follow(b.fed, session, await b.user(session, "bob"), a.actor_url("alice"))
        await session.commit()
    b.wake()

    async def accepted() -> bool:
        async with b.sessions() as session:
            state: str | None = await session.scalar(
                select(Follow.state).where(Follow.followed_uri == a.actor_url("alice"))
            )
        return state == "accepted"

    await wait(accepted)
    seen = await _signed_get(private.uri, b, "bob")
    assert seen.status_code == 200
    assert seen.json()["to"] == [a.fed.urls.followers("alice")]


async def test_deleted_note__410_tombstone(site: Any) -> None:
    note = await _post_as(site, "alice", "soon gone", "public")
    async with site.sessions() as session:
        row = await session.scalar(select(Note).where(Note.id == note.id))
        assert row is not None
        row.deleted_at = datetime.now(UTC)
        await session.commit()
    response = await _get(note.uri)
    assert response.status_code == 410
    assert response.json()["type"] == "Tombstone"


async def test_collections__paged(site: Any) -> None:
    await _post_as(site, "alice", "one", "public")
    await _post_as(site, "alice", "two", "followers")
    outbox = (await _get(site.fed.urls.outbox("alice"))).json()
    assert outbox["type"] == "OrderedCollection"
    assert outbox["totalItems"] == 1, "followers-only posts stay out of the public outbox"
    page = (await _get(outbox["first"])).json()
    assert page["type"] == "OrderedCollectionPage"
    assert [item["type"] for item in page["orderedItems"]] == ["Create"]
    followers = (await _get(site.fed.urls.followers("alice"))).json()
    assert followers["totalItems"] == 0


async def test_authorized_fetch__collections_need_signatures_actors_do_not(instances: Factory) -> None:
    secure = await instances("s", ["alice"], federation={"authorized_fetch": True})
    other = await instances("o", ["bob"])
    assert (await _get(secure.actor_url("alice"))).status_code == 200
    assert (await _get(f"{secure.base}/actor")).status_code == 200
    assert (await _get(secure.fed.urls.outbox("alice"))).status_code == 401
    note = await _post_as(secure, "alice", "hello", "public")
    assert (await _get(note.uri)).status_code == 401
    assert (await _signed_get(note.uri, other, "bob")).status_code == 200
    assert (await _signed_get(secure.fed.urls.outbox("alice"), other, "bob")).status_code == 200
