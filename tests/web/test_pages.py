"""Public pages, security headers, static files and content negotiation, over plain HTTP."""

from __future__ import annotations

import io
import re

from PIL import Image
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.config import Settings
from fediserver.domain.posts import PostDraft, publish_post
from fediserver.domain.services import open_services
from fediserver.media import MediaLimits, ingest_upload
from fediserver.models import MediaAttachment, Note

from .conftest import Browser, log_in


def png(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(out, format="PNG")
    return out.getvalue()


async def test_front_page__is_html_with_the_instance_and_how_to_join(browser: Browser) -> None:
    client = await browser("approval")
    response = await client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>fediserver</h1>" in response.text
    assert "a moderator approves your account" in response.text
    assert 'href="/signup"' in response.text


async def test_html__carries_the_security_headers(browser: Browser) -> None:
    client = await browser()
    for path in ("/", "/login", "/local"):
        headers = (await client.get(path)).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


async def test_html__has_no_inline_script_or_style(browser: Browser) -> None:
    client = await browser()
    page = (await client.get("/")).text
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert " style=" not in page
    assert "<style" not in page


async def test_static__served_under_its_content_hash_and_cached_forever(browser: Browser) -> None:
    client = await browser()
    page = (await client.get("/")).text
    [css] = re.findall(r'href="(/static/app\.[0-9a-f]{12}\.css)"', page)
    [js] = re.findall(r'src="(/static/app\.[0-9a-f]{12}\.js)"', page)
    response = await client.get(css)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "immutable" in response.headers["cache-control"]
    assert (await client.get(js)).headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
    stale = css.replace(css[-16:-4], "000000000000")
    assert (await client.get(stale)).status_code == 404
    assert (await client.get("/static/app.css")).status_code == 404


async def test_actor__browsers_get_the_profile_and_fetchers_get_as2(browser: Browser) -> None:
    client = await browser()
    html = await client.get("/users/alice", headers={"Accept": "text/html"})
    assert html.status_code == 200
    assert (
        '<link rel="alternate" type="application/activity+json" href="http://127.0.0.1:8000/users/alice">' in html.text
    )
    assert "@alice@127.0.0.1:8000" in html.text
    as2 = await client.get("/users/alice", headers={"Accept": "application/activity+json"})
    assert as2.headers["content-type"].startswith("application/activity+json")
    assert as2.json()["id"] == "http://127.0.0.1:8000/users/alice"
    assert (await client.get("/@nobody")).status_code == 404
    assert "text/html" in (await client.get("/@nobody")).headers["content-type"]


async def _post(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    text: str,
    *,
    image: bytes | None = None,
    alt: str = "",
    visibility: str = "public",
) -> Note:
    async with sessions() as session, open_services(settings) as svc:
        alice = await accounts.get_user_actor(session, "alice")
        stored = ingest_upload(svc.store, image, MediaLimits.from_settings(settings.media)) if image else None
        draft = PostDraft(text=text, image=stored, alt=alt, visibility=visibility)
        note = await publish_post(svc, session, alice, draft)
        await session.commit()
        return note


async def test_post_permalink__has_opengraph_and_alternate(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    client = await browser()
    note = await _post(sessions, settings, "a red square", image=png(), alt="A small red square")
    page = await client.get(note.uri.removeprefix("http://127.0.0.1:8000"), headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert f'<link rel="alternate" type="application/activity+json" href="{note.uri}">' in page.text
    assert '<meta property="og:title" content="alice (@alice@127.0.0.1:8000)">' in page.text
    assert '<meta name="twitter:card" content="summary_large_image">' in page.text
    assert 'alt="A small red square"' in page.text
    as2 = await client.get(note.uri, headers={"Accept": "application/activity+json"})
    assert as2.json()["type"] == "Note"


async def test_local_feed__shows_public_posts_and_hides_followers_only(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    client = await browser()
    await _post(sessions, settings, "hello everyone")
    await _post(sessions, settings, "just for followers", visibility="followers")
    for path in ("/local", "/", "/@alice"):
        page = (await client.get(path)).text
        assert "hello everyone" in page, path
        assert "just for followers" not in page, path


async def test_remote_html__is_sanitised_again_when_shown(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await browser()
    async with sessions() as session:
        session.add(
            Note(
                uri="https://remote.example/notes/1",
                attributed_to="https://remote.example/users/bob",
                content='<p>hi<script>alert(1)</script><img src=x onerror="alert(2)"></p>',
                visibility="public",
            )
        )
        await session.commit()
    page = (await client.get("/federated")).text
    assert "<p>hi" in page
    assert "<script>alert" not in page
    assert "onerror" not in page


async def test_content_warning_and_sensitive_media__are_hidden_until_asked(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    client = await browser()
    note = await _post(sessions, settings, "spoiler text", image=png("blue"), alt="blue")
    async with sessions() as session:
        row = await session.get(Note, note.id)
        assert row is not None
        row.summary, row.sensitive = "film spoilers", True
        await session.execute(
            update(MediaAttachment)
            .where(MediaAttachment.note_id == note.id)
            .values(blurhash="LEHV6nWB2yk8pyo0adR*.7kCMdnj")
        )
        await session.commit()
    page = (await client.get("/local")).text
    assert re.search(r'<details class="cw">\s*<summary>film spoilers', page)
    assert re.search(
        r'<details class="sensitive">\s*<summary>\s*<img class="blurhash" src="data:image/png;base64,', page
    )


async def test_tag_page__lists_posts_with_the_hashtag(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """The page reads the ``tags`` index (the ``note_tags`` rows ``publish_post`` writes), not the HTML."""
    client = await browser()
    await _post(sessions, settings, "indexed #Foxes")
    note = await _post(sessions, settings, "only-in-html")
    async with sessions() as session:
        row = await session.get(Note, note.id)
        assert row is not None
        row.content += '<p><a href="x" class="hashtag" rel="tag">#<span>Foxes</span></a></p>'
        await session.commit()
    await _post(sessions, settings, "untagged")
    page = (await client.get("/tags/foxes")).text
    assert "indexed" in page
    assert "only-in-html" not in page
    assert "untagged" not in page
    assert "indexed" in (await client.get("/tags/FOXES")).text
    assert (await client.get("/tags/no%25pe")).status_code == 404


async def test_members_pages__redirect_to_login(browser: Browser) -> None:
    client = await browser()
    for path in ("/home", "/compose", "/follow", "/admin"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path}"
    await log_in(client, "alice", "alice-password")
    assert (await client.get("/admin")).status_code == 403
    assert (await client.get("/home")).status_code == 200
