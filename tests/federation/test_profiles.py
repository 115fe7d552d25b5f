"""Profile details on one instance: rel=me verification against loopback pages, pinned posts in
``featured``, the actor document (checklist 10), and media focal points (checklist 16)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from fediserver.domain import link_checks, profiles
from fediserver.domain.posts import PostDraft, publish_post
from fediserver.domain.services import Services
from fediserver.errors import Conflict, InvalidInput
from fediserver.federation.render import attachment_to_as
from fediserver.jobs.worker import Worker
from fediserver.media import MediaLimits, ingest_upload
from fediserver.models import LinkCheck, MediaAttachment

Factory = Callable[..., Awaitable[Any]]
Serve = Callable[[Starlette], Awaitable[str]]
AS2 = {"Accept": "application/activity+json"}


def rel_me_site(link: str) -> Starlette:
    """/good links back with rel=me; /plain links without rel=me; /hop redirects to /good."""

    async def good(request: Request) -> Response:
        return HTMLResponse(f'<html><body><a rel="nofollow me" href="{link}">me</a></body></html>')

    async def plain(request: Request) -> Response:
        return HTMLResponse(f'<html><body><a href="{link}">me</a></body></html>')

    async def hop(request: Request) -> Response:
        return RedirectResponse("/good")

    return Starlette(routes=[Route("/good", good), Route("/plain", plain), Route("/hop", hop)])


async def _verify(instance: Any, fields: list[tuple[str, str]]) -> tuple[list[str], list[Any]]:
    """Save the fields, then let a worker run the link check the save queued (as ``fediserver serve``'s does).

    The instance is started without its own worker, so the check is still queued when this one looks.
    """
    svc: Services = instance.app.state.services
    async with instance.sessions() as session:
        me = await instance.user(session, "alice")
        await profiles.update_profile(svc, session, me, profiles.ProfileChange(fields=fields))
        await session.commit()
        queued = list(await session.scalars(select(LinkCheck).where(LinkCheck.state == "queued")))
        assert len(queued) == (1 if link_checks.has_links(me) else 0)
    worker = Worker(sessions=instance.sessions, handlers=[link_checks.LinkCheckHandler(instance.fed)])
    await worker.run_once()
    async with instance.sessions() as session:
        me = await instance.user(session, "alice")
        states = set(await session.scalars(select(LinkCheck.state)))
        assert states <= {"done"}
        marks = [f.get("verified_at") for f in me.fields]
        return [str(f["value"]) for f in me.fields if f.get("verified_at")], marks


async def test_rel_me__a_page_linking_back_verifies_the_field(instances: Factory, serve_app: Serve) -> None:
    a = await instances("a", ["alice"], run_worker=False)
    profile = a.fed.urls.profile("alice")
    site = await serve_app(rel_me_site(profile))
    fields = [("Site", f"{site}/good"), ("Via", f"{site}/hop"), ("Plain", f"{site}/plain"), ("Text", "hello")]
    verified, marks = await _verify(a, fields)
    assert verified == [f"{site}/good", f"{site}/hop"]
    assert [m is not None for m in marks] == [True, True, False, False]
    # A changed value loses its mark until verified again.
    _, marks = await _verify(a, [("Site", f"{site}/plain")])
    assert marks == [None]


async def test_rel_me__a_link_one_byte_off_does_not_verify(instances: Factory, serve_app: Serve) -> None:
    a = await instances("a", ["alice"], run_worker=False)
    profile = a.fed.urls.profile("alice")
    site = await serve_app(rel_me_site(profile[:-1] + "x"))
    verified, marks = await _verify(a, [("Site", f"{site}/good")])
    assert verified == []
    assert marks == [None]


async def test_rel_me__the_page_is_fetched_through_the_outbound_guard(instances: Factory, serve_app: Serve) -> None:
    a = await instances("a", ["alice"], run_worker=False, federation={"allow_private_addresses": False})
    site = await serve_app(rel_me_site(a.fed.urls.profile("alice")))
    verified, _ = await _verify(a, [("Site", f"{site}/good")])
    assert verified == []


async def test_actor_document__shows_fields_and_flags(instances: Factory) -> None:
    a = await instances("a", ["alice"])
    svc: Services = a.app.state.services
    change = profiles.ProfileChange(
        display_name="Alice", bio="hi <b>there</b>", fields=[("Web", "https://example.com/a")], locked=True
    )
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        await profiles.update_profile(svc, session, me, change)
        await session.commit()
    async with httpx.AsyncClient() as http:
        doc = (await http.get(a.actor_url("alice"), headers=AS2)).json()
    assert doc["name"] == "Alice"
    assert doc["summary"] == "<p>hi &lt;b&gt;there&lt;/b&gt;</p>"
    assert doc["manuallyApprovesFollowers"] is True
    assert doc["discoverable"] is True
    assert doc["indexable"] is True
    assert doc["featured"] == a.fed.urls.featured("alice")
    [field] = doc["attachment"]
    assert field["type"] == "PropertyValue"
    assert field["name"] == "Web"
    assert field["value"].startswith('<a href="https://example.com/a"')
    assert 'rel="nofollow noopener noreferrer me"' in field["value"]
    context = doc["@context"][-1]
    assert context["schema"] == "http://schema.org#"
    assert context["PropertyValue"] == "schema:PropertyValue"
    assert "icon" not in doc
    assert "image" not in doc


async def test_profile__limits_are_checked(instances: Factory) -> None:
    a = await instances("a", ["alice"])
    svc: Services = a.app.state.services
    bad = [
        profiles.ProfileChange(display_name="x" * 31),
        profiles.ProfileChange(bio="x" * 501),
        profiles.ProfileChange(fields=[(f"f{i}", "v") for i in range(5)]),
        profiles.ProfileChange(fields=[("", "v")]),
        profiles.ProfileChange(avatar=b"not an image"),
    ]
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        for change in bad:
            with pytest.raises(InvalidInput):
                await profiles.update_profile(svc, session, me, change)


async def test_pins__featured_lists_pinned_posts_up_to_five(instances: Factory) -> None:
    a = await instances("a", ["alice"])
    svc: Services = a.app.state.services
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        notes = [await publish_post(svc, session, me, PostDraft(text=f"post {i}")) for i in range(6)]
        private = await publish_post(svc, session, me, PostDraft(text="mine", visibility="followers"))
        for note in notes[:5]:
            await profiles.pin(svc, session, me, note.uri)
        with pytest.raises(Conflict):
            await profiles.pin(svc, session, me, notes[5].uri)
        with pytest.raises(InvalidInput):
            await profiles.pin(svc, session, me, private.uri)
        await profiles.unpin(svc, session, me, notes[0].uri)
        await session.commit()
        uris = [n.uri for n in notes]
    async with httpx.AsyncClient() as http:
        doc = (await http.get(a.fed.urls.featured("alice"), headers=AS2)).json()
    assert doc["type"] == "OrderedCollection"
    assert doc["totalItems"] == 4
    assert sorted(item["id"] for item in doc["orderedItems"]) == sorted(uris[1:5])
    assert all(item["type"] == "Note" for item in doc["orderedItems"])


def test_attachment__focal_point_is_emitted_when_set() -> None:
    from fediserver.urls import Urls

    urls = Urls("https", "example.test")
    media = MediaAttachment(storage_key="ab/abc.png", media_type="image/png", focus_x=0.5, focus_y=-0.25)
    assert attachment_to_as(media, urls)["focalPoint"] == [0.5, -0.25]
    media.focus_x = media.focus_y = None
    assert "focalPoint" not in attachment_to_as(media, urls)


async def test_post__focal_point_is_stored_checked_and_served(instances: Factory) -> None:
    import io

    from PIL import Image

    a = await instances("a", ["alice"])
    svc: Services = a.app.state.services
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, "PNG")
    async with a.sessions() as session:
        me = await a.user(session, "alice")
        image = ingest_upload(svc.store, out.getvalue(), MediaLimits.from_settings(a.settings.media))
        with pytest.raises(InvalidInput, match="focus"):
            await publish_post(svc, session, me, PostDraft(text="x", image=image, focus=(1.5, 0.0)))
        with pytest.raises(InvalidInput, match="focus"):
            await publish_post(svc, session, me, PostDraft(text="x", focus=(0.0, 0.0)))
        await session.rollback()
        me = await a.user(session, "alice")
        note = await publish_post(svc, session, me, PostDraft(text="x", image=image, focus=(-0.5, 1.0)))
        await session.commit()
        uri = note.uri
    async with httpx.AsyncClient() as http:
        doc = (await http.get(uri, headers=AS2)).json()
    assert doc["attachment"][0]["focalPoint"] == [-0.5, 1.0]
