"""Fixtures of the server's unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fediserver import migrate
from fediserver.db import make_engine


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database: SQLite, then the test PostgreSQL (``database_url``)."""
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()
