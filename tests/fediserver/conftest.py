"""Fixtures of the server's unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fediserver import migrate
from fediserver.cli import main
from fediserver.db import make_engine


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database: SQLite, then the test PostgreSQL (``database_url``)."""
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised, migrated SQLite instance made with the CLI; FEDISERVER_CONFIG points at its config."""
    config = tmp_path / "fediserver.toml"
    monkeypatch.setenv("FEDISERVER_CONFIG", str(config))
    assert main(["init", "--domain", "127.0.0.1:8000", "--scheme", "http"]) == 0
    assert main(["migrate"]) == 0
    return config
