"""The generation API with OAuth bearer tokens (scope ``generate``), and a finished generation attached to a
status through ``media_ids``, keeping its provenance (issue 10 point 5). Real tiny pipeline."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fediserver import accounts
from fediserver.imagegen.worker import GenerationWorker
from fediserver.mastodon.ids import snowflake
from fediserver.models import MediaAttachment, Note, User
from fediserver.oauth import grants
from fediserver.oauth.grants import OOB
from fediserver.oauth.scopes import Scopes
from tests.generation.test_server_queue import _drain, api, db, gen_settings, worker

__all__ = ["api", "db", "gen_settings", "worker"]


async def _token(sessions: async_sessionmaker[AsyncSession], scopes: str) -> dict[str, str]:
    async with sessions() as session:
        actor = await accounts.get_user_actor(session, "alice")
        user = await session.scalar(select(User).where(User.actor_id == actor.id))
        parsed = Scopes.parse(scopes)
        app, _ = await grants.register_app(session, "gen", [OOB], parsed, None)
        issued = await grants.issue_token(session, app, user, parsed)
        await session.commit()
        return {"Authorization": f"Bearer {issued.access_token}"}


async def test_generation__bearer_token_with_generate_scope_then_attach_by_media_ids(
    api: httpx.AsyncClient, db: async_sessionmaker[AsyncSession], worker: GenerationWorker
) -> None:
    refused = await api.post("/api/v1/generations", json={"prompt": "x"}, headers=await _token(db, "read write"))
    assert refused.status_code == 403
    headers = await _token(db, "generate write")
    created = await api.post("/api/v1/generations", json={"prompt": "a fox", "post": False}, headers=headers)
    assert created.status_code == 202, created.text
    await _drain(worker)
    async with db() as session:
        media = await session.scalar(select(MediaAttachment).where(MediaAttachment.generation_job_id.is_not(None)))
        assert media is not None
        assert media.note_id is None
        media_id = snowflake(media.created_at, media.id)
        job_id = media.generation_job_id
    status = await api.post("/api/v1/statuses", headers=headers, json={"status": "made here", "media_ids": [media_id]})
    assert status.status_code == 200, status.text
    body: dict[str, Any] = status.json()
    assert [m["id"] for m in body["media_attachments"]] == [media_id]
    assert body["media_attachments"][0]["description"] == "AI-generated image: a fox"
    async with db() as session:
        note = await session.scalar(select(Note).where(Note.uri == body["uri"]))
        assert note is not None
        assert note.generation_job_id == job_id
