"""Shared fixtures: settings on a temporary SQLite database, a migrated database, the app over ASGI.

``FEDISERVER_TEST_DATABASE_URL`` (a ``postgresql+asyncpg://`` URL) adds PostgreSQL to the tests that take
the ``database_url`` fixture; without it those cases are skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver import migrate
from fediserver.app import AppOptions, create_app
from fediserver.config import Settings, parse_settings
from fediserver.db import make_engine, session_factory

TEST_SECRET = "test-secret-key-0123456789abcdef-0123456789"
POSTGRES_ENV = "FEDISERVER_TEST_DATABASE_URL"

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Build settings for a local-development instance under ``tmp_path``; keyword sections override."""

    def factory(**sections: dict[str, Any]) -> Settings:
        raw: dict[str, dict[str, Any]] = {
            "instance": {"domain": "127.0.0.1:8000", "scheme": "http", "secret_key": TEST_SECRET},
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"},
            "media": {"directory": str(tmp_path / "media")},
        }
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        return parse_settings(raw, {}, tmp_path)

    return factory


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


async def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: SQLite in ``tmp_path``, or the test PostgreSQL wiped clean."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'param.db'}"
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    await reset_postgres(url)
    yield url
    await reset_postgres(url)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The migrated test database's engine."""
    eng = make_engine(settings.database_url)
    await migrate.upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def client(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The app, started through its lifespan, behind an ASGI client (no worker)."""
    app = create_app(settings, AppOptions(run_worker=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            yield http


# Hypothesis budgets: a fixed, derandomized small one in every run (CI stays fast and repeatable), and a
# long one for `FEDISERVER_FUZZ=1 scripts/test -m fuzz` before closing robustness work (issue 8).
FUZZ_ENV = "FEDISERVER_FUZZ"
FUZZ_LONG_TIMEOUT = 3600
hypothesis.settings.register_profile(
    "default", max_examples=50, deadline=None, derandomize=True, database=None, print_blob=True
)
hypothesis.settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FEDISERVER_FUZZ_EXAMPLES", "2000")),
    deadline=None,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile("fuzz" if os.environ.get(FUZZ_ENV) == "1" else "default")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(FUZZ_ENV) == "1":
        for item in items:
            if item.get_closest_marker("fuzz") is not None:
                item.add_marker(pytest.mark.timeout(FUZZ_LONG_TIMEOUT))
