"""Members: write and upload, generate on the real tiny pipeline and publish, remix, like, delete;
the generation API with the session cookie; moderation."""

from __future__ import annotations

import io
import re

import httpx
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver.imagegen.worker import GenerationWorker
from fediserver.models import DomainBlock, GenerationJob, MediaAttachment, Note, Report

from .conftest import Browser, csrf_of, drain, log_in, post_form


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), "green").save(out, format="PNG")
    return out.getvalue()


async def _member(browser: Browser, username: str = "alice") -> httpx.AsyncClient:
    client = await browser()
    assert (await log_in(client, username, f"{username}-password")).status_code == 303
    return client


async def _notes(sessions: async_sessionmaker[AsyncSession]) -> list[Note]:
    async with sessions() as session:
        return list(await session.scalars(select(Note).order_by(Note.id)))


async def test_upload__alt_text_is_required_with_an_image(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await _member(browser)
    files = {"image": ("green.png", png(), "image/png")}
    refused = await post_form(client, "/compose", "/compose/post", {"text": "look", "alt": " "}, files=files)
    assert refused.status_code == 422
    assert "describe the image" in refused.text
    assert await _notes(sessions) == []
    data = {"text": "look", "alt": "A green rectangle", "visibility": "public"}
    posted = await post_form(client, "/compose", "/compose/post", data, files=files)
    assert posted.status_code == 303
    [note] = await _notes(sessions)
    assert posted.headers["location"] == note.uri
    async with sessions() as session:
        [media] = (await session.scalars(select(MediaAttachment).where(MediaAttachment.note_id == note.id))).all()
    assert media.description == "A green rectangle"
    profile = (await client.get("/@alice")).text
    assert 'alt="A green rectangle"' in profile


async def test_text_post__with_a_content_warning(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    client = await _member(browser)
    data = {"text": "the ending", "summary": "spoilers", "visibility": "unlisted"}
    assert (await post_form(client, "/compose", "/compose/post", data)).status_code == 303
    [note] = await _notes(sessions)
    assert (note.summary, note.sensitive, note.visibility) == ("spoilers", True, "unlisted")


async def test_generate__progress_then_publish_with_alt_text_and_remix(
    browser: Browser, gpu: GenerationWorker, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await _member(browser)
    started = await post_form(client, "/compose", "/compose/generate", {"prompt": "a lighthouse", "seed": "42"})
    assert started.status_code == 303
    job_page = started.headers["location"]
    assert re.fullmatch(r"/compose/jobs/[0-9a-f]{32}", job_page)
    waiting = (await client.get(job_page)).text
    assert 'data-state="queued"' in waiting
    assert 'id="job-percent">0%' in waiting
    assert "/api/v1/generations/" in waiting, "the page names the SSE stream the script follows"
    assert await drain(gpu) == 1
    done = (await client.get(job_page)).text
    assert 'id="job-percent">100%' in done
    assert 'id="publish-form"' in done
    token = job_page.rsplit("/", 1)[1]
    assert f'data-assist="alt-text" data-target="f-alt" data-generation="{token}"' in done
    refused = await post_form(client, job_page, job_page + "/publish", {"text": "my lighthouse", "alt": ""})
    assert refused.status_code == 422
    data = {"text": "my lighthouse", "alt": "A lighthouse at dusk", "visibility": "public", "summary": ""}
    published = await post_form(client, job_page, job_page + "/publish", data)
    assert published.status_code == 303
    [note] = await _notes(sessions)
    assert note.generation_job_id is not None
    again = await post_form(client, job_page, job_page + "/publish", data)
    assert again.status_code == 409
    permalink = (await client.get(published.headers["location"].removeprefix("http://127.0.0.1:8000"))).text
    assert "a lighthouse" in permalink
    assert "<dt>Seed</dt><dd>42</dd>" in permalink
    assert 'alt="A lighthouse at dusk"' in permalink
    assert 'href="/compose?prompt=a%20lighthouse&amp;seed=42"' in permalink
    remix = (await client.get("/compose?prompt=a%20lighthouse&seed=42")).text
    assert ">a lighthouse</textarea>" in remix
    assert 'value="42"' in remix
    assert "my lighthouse" in (await client.get("/local")).text


async def test_generate__cancel_and_retry_with_another_seed(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await _member(browser)
    started = await post_form(client, "/compose", "/compose/generate", {"prompt": "a boat", "seed": "7"})
    job_page = started.headers["location"]
    cancelled = await post_form(client, job_page, job_page + "/cancel", {})
    assert cancelled.status_code == 303
    assert 'data-state="cancelled"' in (await client.get(job_page)).text
    retried = await post_form(client, job_page, job_page + "/retry", {})
    assert retried.status_code == 303
    async with sessions() as session:
        first, second = (await session.scalars(select(GenerationJob).order_by(GenerationJob.id))).all()
    assert first.state == "cancelled"
    assert second.prompt == "a boat"
    assert second.state == "queued"
    assert second.seed != first.seed
    assert retried.headers["location"] == f"/compose/jobs/{second.token}"


async def test_generation_pages__are_the_owners_only(browser: Browser) -> None:
    alice = await _member(browser)
    job_page = (await post_form(alice, "/compose", "/compose/generate", {"prompt": "x"})).headers["location"]
    moderator = await _member(browser, "mod")
    assert (await moderator.get(job_page)).status_code == 404


async def test_generation_api__accepts_the_session_cookie_with_its_csrf_header(browser: Browser) -> None:
    client = await _member(browser)
    token = csrf_of((await client.get("/compose")).text)
    body = {"prompt": "a kite", "post": False}
    refused = await client.post("/api/v1/generations", json=body)
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["error"]
    wrong = await client.post(
        "/api/v1/generations", json=body, headers={"X-CSRF-Token": token[:-1] + ("A" if token[-1] != "A" else "B")}
    )
    assert wrong.status_code == 403
    accepted = await client.post("/api/v1/generations", json=body, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 202
    client.cookies.clear()
    assert (await client.post("/api/v1/generations", json=body, headers={"X-CSRF-Token": token})).status_code == 401


async def test_like_and_delete(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    client = await _member(browser)
    await post_form(client, "/compose", "/compose/post", {"text": "likeable"})
    [note] = await _notes(sessions)
    liked = await post_form(client, "/local", f"/posts/{note.id}/like", {})
    assert liked.status_code == 303
    assert 'aria-pressed="true">Like <span class="count">1</span>' in (await client.get("/local")).text
    other = await _member(browser, "mod")
    assert (await post_form(other, "/local", f"/posts/{note.id}/delete", {})).status_code == 404
    assert (await post_form(client, "/local", f"/posts/{note.id}/delete", {})).status_code == 303
    [gone] = await _notes(sessions)
    assert gone.deleted_at is not None
    assert "likeable" not in (await client.get("/local")).text


async def test_moderation__resolve_a_report_and_block_a_domain(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        session.add(
            Report(
                activity_uri="https://bad.example/flags/1",
                actor_uri="https://bad.example/actor",
                object_uris=["http://127.0.0.1:8000/users/alice"],
                content="spam",
                raw={},
            )
        )
        await session.commit()
    member = await _member(browser)
    assert (await member.get("/admin")).status_code == 403
    moderator = await _member(browser, "mod")
    page = (await moderator.get("/admin")).text
    assert "spam" in page
    [report_id] = re.findall(r'action="/admin/reports/(\d+)"', page)
    assert (await post_form(moderator, "/admin", f"/admin/reports/{report_id}", {})).status_code == 303
    assert "spam" not in (await moderator.get("/admin")).text
    blocked = await post_form(moderator, "/admin", "/admin/domains/block", {"domain": "Bad.Example", "reason": "spam"})
    assert blocked.status_code == 303
    async with sessions() as session:
        assert (await session.scalars(select(DomainBlock.domain))).all() == ["bad.example"]
        resolved = await session.scalar(select(Report.resolved_at))
    assert resolved is not None
    refused = await post_form(moderator, "/admin", "/admin/domains/block", {"domain": "a/b"})
    assert refused.status_code == 422


async def test_follow__a_bad_account_is_a_4xx_with_the_reason(browser: Browser) -> None:
    client = await _member(browser)
    # Local accounts can be followed (domain.local_follows); oneself cannot.
    refused = await post_form(client, "/follow", "/follow", {"account": "http://127.0.0.1:8000/users/alice"})
    assert refused.status_code == 422
    assert "cannot follow itself" in refused.text
    assert 'value="http://127.0.0.1:8000/users/alice"' in refused.text, "the form keeps what was typed"


async def test_compose__writing_help_buttons_follow_the_switches(browser: Browser) -> None:
    on = (await (await _member(browser)).get("/compose")).text
    for kind in ("prompt", "rewrite", "alt-text"):
        assert f'data-assist="{kind}"' in on
    assert 'id="assist-status"' in on
    off_client = await browser(assist={"rewrite": False, "alt_text": False})
    assert (await log_in(off_client, "alice", "alice-password")).status_code == 303
    off = (await off_client.get("/compose")).text
    assert 'data-assist="prompt"' in off
    assert 'data-assist="rewrite"' not in off
    assert 'data-assist="alt-text"' not in off


async def test_compose__an_assisted_draft_is_published_with_the_disclosure(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await _member(browser)
    helped = {"text": "Polished by the assistant", "visibility": "public", "assisted": "1"}
    assert (await post_form(client, "/compose", "/compose/post", helped)).status_code == 303
    mine = {"text": "All my own words", "visibility": "public", "assisted": ""}
    assert (await post_form(client, "/compose", "/compose/post", mine)).status_code == 303
    first, second = await _notes(sessions)
    assert "Text written with help from AI." in first.content
    assert "Text written with help from AI." not in second.content


async def test_compose__the_assist_api_takes_the_session_with_its_csrf_header(browser: Browser) -> None:
    client = await _member(browser)
    token = csrf_of((await client.get("/compose")).text)
    refused = await client.post("/api/v1/assist/rewrite", json={"text": "my draft"})
    assert refused.status_code == 403
    accepted = await client.post("/api/v1/assist/rewrite", json={"text": "my draft"}, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 202
    assert (await client.get(accepted.json()["status_url"])).json()["state"] == "queued"
