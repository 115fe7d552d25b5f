"""Moderators and admins in the browser's HTTP: roles, suspend, silence, delete, member reports, settings."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.config import Settings
from fediserver.domain import moderation
from fediserver.domain.posts import PostDraft, publish_post
from fediserver.domain.services import open_services
from fediserver.models import DeliveryJob, LocalActor, Note, RemoteActor, Report, User
from fediserver.oauth import grants
from fediserver.oauth.scopes import Scopes

from .conftest import Browser, csrf_of, log_in, post_form

AS2 = {"Accept": "application/activity+json"}


async def _user(sessions: async_sessionmaker[AsyncSession], username: str) -> User:
    async with sessions() as session:
        return await moderation.user_named(session, username)


async def _make(sessions: async_sessionmaker[AsyncSession], username: str, role: str) -> User:
    async with sessions() as session:
        user = await accounts.create_user(session, username, f"{username}-password")
        await moderation.set_role(session, user, role)
        await session.commit()
        return user


async def _post(sessions: async_sessionmaker[AsyncSession], settings: Settings, username: str, text: str) -> Note:
    async with sessions() as session, open_services(settings) as svc:
        actor = await accounts.get_user_actor(session, username)
        note = await publish_post(svc, session, actor, PostDraft(text=text))
        await session.commit()
        return note


async def _act(client: httpx.AsyncClient, user: User, action: str, **data: Any) -> httpx.Response:
    return await post_form(client, "/admin/users", f"/admin/users/{user.id}/{action}", data)


async def test_roles__moderator_moderates_but_only_an_admin_sees_settings(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _make(sessions, "molly", "moderator")
    member, moderator, admin = await browser(), await browser(), await browser()
    await log_in(member, "alice", "alice-password")
    await log_in(moderator, "molly", "molly-password")
    await log_in(admin, "mod", "mod-password")
    assert (await member.get("/admin")).status_code == 403
    assert (await member.get("/admin/users")).status_code == 403
    assert (await moderator.get("/admin")).status_code == 200
    users = await moderator.get("/admin/users")
    assert users.status_code == 200
    assert 'id="user-alice"' in users.text
    assert "/role" not in users.text  # roles are for admins
    refused = await moderator.get("/admin/settings")
    assert refused.status_code == 403
    assert "Only admins" in refused.text
    assert (await admin.get("/admin/settings")).status_code == 200


async def test_role__an_admin_promotes_a_member_to_moderator(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    alice = await _user(sessions, "alice")
    admin = await browser()
    await log_in(admin, "mod", "mod-password")
    response = await post_form(admin, "/admin/users", f"/admin/users/{alice.id}/role", {"role": "moderator"})
    assert response.status_code == 303
    assert (await _user(sessions, "alice")).role == "moderator"
    bad = await post_form(admin, "/admin/users", f"/admin/users/{alice.id}/role", {"role": "overlord"})
    assert bad.status_code == 422
    assert "overlord" in bad.text
    assert "use one of user, moderator, admin" in bad.text


async def test_role__a_moderator_cannot_change_roles(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _make(sessions, "molly", "moderator")
    alice = await _user(sessions, "alice")
    moderator = await browser()
    await log_in(moderator, "molly", "molly-password")
    response = await post_form(moderator, "/admin", f"/admin/users/{alice.id}/role", {"role": "admin"})
    assert response.status_code == 403
    assert (await _user(sessions, "alice")).role == "user"


async def test_suspend__ends_sessions_refuses_login_withholds_content_and_is_lifted(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    note = await _post(sessions, settings, "alice", "a post by alice")
    alice_client, admin = await browser(), await browser()
    await log_in(alice_client, "alice", "alice-password")
    assert (await alice_client.get("/home")).status_code == 200
    await log_in(admin, "mod", "mod-password")
    alice = await _user(sessions, "alice")
    assert (await _act(admin, alice, "suspend")).status_code == 303

    assert (await alice_client.get("/home")).status_code == 303  # logged out
    refused = await log_in(alice_client, "alice", "alice-password")
    assert refused.status_code == 403
    assert "suspended" in refused.text
    actor = await admin.get("/users/alice", headers=AS2)
    assert actor.status_code == 200
    assert actor.json()["suspended"] is True
    assert actor.json()["summary"] == ""
    assert (await admin.get(note.uri.removeprefix("http://127.0.0.1:8000"), headers=AS2)).status_code == 403
    assert (await admin.get("/@alice")).status_code == 403
    listing = (await admin.get("/admin/users")).text
    assert "Unsuspend <span" in listing.split('id="user-alice"')[1].split("</li>")[0]

    assert (await _act(admin, alice, "unsuspend")).status_code == 303
    assert "suspended" not in (await admin.get("/users/alice", headers=AS2)).json()
    assert (await log_in(alice_client, "alice", "alice-password")).status_code == 303


async def test_suspend__revokes_oauth_tokens(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    alice = await _user(sessions, "alice")
    async with sessions() as session:
        app, _ = await grants.register_app(session, "app", ["urn:ietf:wg:oauth:2.0:oob"], Scopes.parse("read"), None)
        issued = await grants.issue_token(session, app, alice, Scopes.parse("read"))
        await session.commit()
    client = await browser()
    bearer = {"Authorization": f"Bearer {issued.access_token}"}
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=bearer)).status_code == 200
    await log_in(client, "mod", "mod-password")
    await _act(client, alice, "suspend")
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=bearer)).status_code == 401


async def test_silence__keeps_posts_off_the_local_feed_until_lifted(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await _post(sessions, settings, "alice", "quiet please")
    admin = await browser()
    await log_in(admin, "mod", "mod-password")
    assert "quiet please" in (await admin.get("/local")).text
    alice = await _user(sessions, "alice")
    assert (await _act(admin, alice, "silence")).status_code == 303
    assert "quiet please" not in (await admin.get("/local")).text
    assert "quiet please" not in (await admin.get("/federated")).text
    assert "quiet please" in (await admin.get("/@alice")).text  # the profile still shows them
    assert (await _act(admin, alice, "unsilence")).status_code == 303
    assert "quiet please" in (await admin.get("/local")).text


async def test_moderator__cannot_suspend_an_admin_but_an_admin_can_suspend_a_moderator(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    molly = await _make(sessions, "molly", "moderator")
    admin_user = await _user(sessions, "mod")
    moderator, admin = await browser(), await browser()
    await log_in(moderator, "molly", "molly-password")
    await log_in(admin, "mod", "mod-password")
    refused = await _act(moderator, admin_user, "suspend")
    assert refused.status_code == 403
    assert "only admins" in refused.text
    assert (await _user(sessions, "mod")).actor.suspended_at is None
    assert (await _act(admin, molly, "suspend")).status_code == 303
    assert (await _user(sessions, "molly")).actor.suspended_at is not None


async def test_delete__needs_the_username_typed(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    alice = await _user(sessions, "alice")
    admin = await browser()
    await log_in(admin, "mod", "mod-password")
    wrong = await _act(admin, alice, "delete", confirm="alic")
    assert wrong.status_code == 422
    assert "to confirm its deletion" in wrong.text
    assert (await _user(sessions, "alice")).actor.deleted_at is None
    assert (await _act(admin, alice, "delete", confirm="alice")).status_code == 303
    async with sessions() as session:
        actor = await session.scalar(select(LocalActor).where(LocalActor.username == "alice"))
        assert actor is not None
        assert actor.deleted_at is not None
        assert await session.scalar(select(User).where(User.actor_id == actor.id)) is None


async def _remote_note(sessions: async_sessionmaker[AsyncSession]) -> Note:
    async with sessions() as session:
        session.add(
            RemoteActor(
                uri="https://remote.example/users/troll",
                domain="remote.example",
                preferred_username="troll",
                inbox="https://remote.example/users/troll/inbox",
                shared_inbox="https://remote.example/inbox",
                raw={},
            )
        )
        note = Note(
            uri="https://remote.example/notes/1",
            attributed_to="https://remote.example/users/troll",
            content="<p>something nasty</p>",
            visibility="public",
        )
        session.add(note)
        await session.commit()
        return note


async def test_report__member_reports_a_remote_post_forwarded_as_a_flag_and_a_moderator_resolves_it(
    browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    note = await _remote_note(sessions)
    member = await browser()
    await log_in(member, "alice", "alice-password")
    form = await member.get(f"/posts/{note.id}/report")
    assert form.status_code == 200
    assert "remote.example" in form.text
    sent = await member.post(
        f"/posts/{note.id}/report", data={"csrf": csrf_of(form.text), "comment": "spam and abuse", "forward": "1"}
    )
    assert sent.status_code == 201
    assert 'id="report-sent"' in sent.text
    async with sessions() as session:
        report = await session.scalar(select(Report))
        assert report is not None
        assert report.forwarded
        assert report.object_uris == [note.attributed_to, note.uri]
        [job] = await session.scalars(select(DeliveryJob))
        instance = await accounts.ensure_instance_actor(session)
    assert job.inbox_url == "https://remote.example/inbox"
    assert job.signer_actor_id == instance.id
    flag = json.loads(job.body)
    assert flag["type"] == "Flag"
    assert flag["actor"] == "http://127.0.0.1:8000/actor"
    assert flag["object"] == [note.attributed_to, note.uri]
    assert flag["content"] == "spam and abuse"

    moderator = await browser()
    await log_in(moderator, "mod", "mod-password")
    page = await moderator.get("/admin")
    assert f'id="report-{report.id}"' in page.text
    assert "Reported by http://127.0.0.1:8000/users/alice" in page.text
    resolved = await moderator.post(f"/admin/reports/{report.id}", data={"csrf": csrf_of(page.text)})
    assert resolved.status_code == 303
    assert f'id="report-{report.id}"' not in (await moderator.get("/admin")).text


async def test_report__not_forwarded_unless_asked(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    note = await _remote_note(sessions)
    member = await browser()
    await log_in(member, "alice", "alice-password")
    sent = await post_form(member, f"/posts/{note.id}/report", f"/posts/{note.id}/report", {"comment": "hmm"})
    assert sent.status_code == 201
    async with sessions() as session:
        report = await session.scalar(select(Report))
        assert report is not None
        assert not report.forwarded
        assert list(await session.scalars(select(DeliveryJob))) == []


async def test_report__a_private_post_one_cannot_see_is_not_found(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as session, open_services(settings) as svc:
        mod = await accounts.get_user_actor(session, "mod")
        note = await publish_post(svc, session, mod, PostDraft(text="for followers", visibility="followers"))
        await session.commit()
    member = await browser()
    await log_in(member, "alice", "alice-password")
    assert (await member.get(f"/posts/{note.id}/report")).status_code == 404


async def test_report__needs_a_login(browser: Browser, sessions: async_sessionmaker[AsyncSession]) -> None:
    note = await _remote_note(sessions)
    client = await browser()
    response = await client.get(f"/posts/{note.id}/report")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def _report_links(html: str) -> set[str]:
    return set(re.findall(r'class="button secondary report" href="/posts/(\d+)/report"', html))


async def test_report__offered_on_every_post_in_a_feed_local_and_remote_but_not_ones_own(
    browser: Browser, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    remote = await _remote_note(sessions)
    by_mod = await _post(sessions, settings, "mod", "a post by mod")
    by_alice = await _post(sessions, settings, "alice", "a post by alice")
    member = await browser()
    await log_in(member, "alice", "alice-password")
    federated = (await member.get("/federated")).text
    assert "something nasty" in federated
    assert "a post by alice" in federated
    assert _report_links(federated) == {str(remote.id), str(by_mod.id)}, "remote and local, never her own"
    assert 'aria-label="Report the post by troll"' in federated
    form = await member.get(f"/posts/{remote.id}/report")
    assert form.status_code == 200
    assert "https://remote.example/users/troll" in form.text
    # The twin: the author sees no report link on her own post, a guest sees none at all.
    assert str(by_alice.id) not in _report_links((await member.get("/local")).text)
    assert _report_links((await (await browser()).get("/local")).text) == set()
    assert _report_links((await member.get(by_mod.uri.removeprefix("http://127.0.0.1:8000"))).text) == {
        str(by_mod.id)
    }, "and on its permalink"
