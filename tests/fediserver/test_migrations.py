"""Migrations: an empty database upgraded to head equals the models, and downgrades to nothing."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from fediserver import migrate
from fediserver.db import make_engine
from fediserver.models import Base


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_to_head__matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            assert await conn.run_sync(_tables) == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_downgrade_to_base__removes_every_table(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine)
        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


def test_revisions__are_date_prefixed() -> None:
    import re
    from pathlib import Path

    versions = Path(__file__).resolve().parents[2] / "migrations" / "versions"
    files = [p.name for p in versions.glob("*.py") if p.name != "__init__.py"]
    assert files
    for name in files:
        assert re.match(r"^\d{4}_\d{2}_\d{2}_\d{4}-\w+_\w+\.py$", name), name


async def test_0003__gives_existing_generation_jobs_a_token(database_url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine, "0002")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO local_actors (username, actor_type, display_name, summary, "
                    "manually_approves_followers, private_key_pem, public_key_pem, created_at, updated_at) "
                    "VALUES ('a', 'Person', '', '', false, 'k', 'k', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO generation_jobs (local_actor_id, prompt, negative_prompt, seed, model, steps, "
                    "guidance, width, height, progress_step, progress_total, cancel_requested, created_at, "
                    "state, attempts, next_attempt_at) VALUES ((SELECT id FROM local_actors), 'p', '', 1, 'tiny', "
                    "2, 0, 64, 64, 0, 2, false, CURRENT_TIMESTAMP, 'queued', 0, CURRENT_TIMESTAMP)"
                )
            )
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            tokens = (await conn.execute(text("SELECT token FROM generation_jobs"))).scalars().all()
        assert len(tokens) == 1
        assert len(tokens[0]) == 32
    finally:
        await engine.dispose()


async def test_0005__keeps_every_row_and_fills_the_new_columns(database_url: str) -> None:
    # A table rebuild on SQLite would cascade-delete the generation jobs of the rebuilt local_actors.
    from sqlalchemy import text

    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine, "0003")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO local_actors (username, actor_type, display_name, summary, "
                    "manually_approves_followers, private_key_pem, public_key_pem, created_at, updated_at) "
                    "VALUES ('a', 'Person', '', '', false, 'k', 'k', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO generation_jobs (token, local_actor_id, prompt, negative_prompt, seed, model, "
                    "steps, guidance, width, height, progress_step, progress_total, cancel_requested, created_at, "
                    "state, attempts, next_attempt_at) VALUES ('t', (SELECT id FROM local_actors), 'p', '', 1, "
                    "'tiny', 2, 0, 64, 64, 0, 2, false, CURRENT_TIMESTAMP, 'queued', 0, CURRENT_TIMESTAMP)"
                )
            )
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            purposes = (await conn.execute(text("SELECT purpose FROM generation_jobs"))).scalars().all()
            actor = (
                await conn.execute(text("SELECT fields, discoverable, indexable, also_known_as FROM local_actors"))
            ).one()
        assert purposes == ["post"]
        assert actor[0] in ("[]", [])
        assert bool(actor[1]) is True
        assert bool(actor[2]) is True
        assert actor[3] in ("[]", [])
    finally:
        await engine.dispose()


async def test_0004__rebuilding_notes_keeps_their_media(database_url: str) -> None:
    # 0004 makes notes.tags NOT NULL, which rebuilds the table on SQLite; with foreign keys enforced the
    # rebuild's DROP would cascade to media_attachments (migrate turns enforcement off around migrations).
    from sqlalchemy import text

    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine, "0003")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    'INSERT INTO notes (uri, attributed_to, content, sensitive, visibility, "to", cc, published_at) '
                    "VALUES ('https://x.example/n/1', 'https://x.example/u', '<p>hi</p>', false, 'public', "
                    "'[]', '[]', CURRENT_TIMESTAMP)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO media_attachments (note_id, position, remote_url, media_type, description, "
                    "created_at) VALUES ((SELECT id FROM notes), 0, 'https://x.example/a.png', 'image/png', "
                    "'alt', CURRENT_TIMESTAMP)"
                )
            )
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            media = (await conn.execute(text("SELECT description FROM media_attachments"))).scalars().all()
            tags = (await conn.execute(text("SELECT tags FROM notes"))).scalars().all()
            if conn.dialect.name == "sqlite":
                assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert media == ["alt"]
        assert tags in (["[]"], [[]])
    finally:
        await engine.dispose()
