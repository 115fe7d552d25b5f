"""Apply and inspect Alembic migrations over the application's async engine."""

from __future__ import annotations

from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config() -> Config:
    config = Config()
    location = resources.files("migrations")
    config.set_main_option("script_location", str(location))
    return config


def _with_connection(connection: Connection, action: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    if action == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


async def _migrate(engine: AsyncEngine, action: str, revision: str) -> None:
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # A batch migration rebuilds a SQLite table by copying it and dropping the old one; with
            # foreign keys enforced, that drop cascades to every row referring to the table (Alembic's
            # "batch mode" docs). The pragma only takes effect outside a transaction, so it comes first.
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            await conn.run_sync(_with_connection, action, revision)
            await conn.commit()
        finally:
            if sqlite:
                await conn.rollback()
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _migrate(engine, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    await _migrate(engine, "downgrade", revision)


def _current(connection: Connection) -> Any:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        rev: str | None = await conn.run_sync(_current)
        return rev


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
