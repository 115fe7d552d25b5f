"""Alembic environment: the URL and connection come from fediserver, never from an ini file.

``fediserver migrate`` passes an open connection in ``config.attributes["connection"]``. Running the
``alembic`` command directly reads the fediserver config file (``$FEDISERVER_CONFIG``).
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from fediserver.config import load_config
from fediserver.db import engine_from_settings
from fediserver.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    engine = engine_from_settings(load_config(environ=os.environ))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `fediserver migrate`")

_connection = context.config.attributes.get("connection")
if _connection is None:
    asyncio.run(_run_standalone())
else:
    _run(_connection)
