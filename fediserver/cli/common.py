"""What every command shares: the --config option, loading settings, opening the database."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fediserver import migrate
from fediserver.config import Settings, load_config
from fediserver.db import engine_from_settings, session_factory
from fediserver.errors import AppError
from fediserver.federation.context import Federation

EXIT_ERROR = 1
EXIT_NOT_AVAILABLE = 2


class CommandError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def config_parent(*, top_level: bool = False) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config",
        metavar="PATH",
        # Sub-commands must not overwrite a --config given before the command name.
        default=None if top_level else argparse.SUPPRESS,
        help="config file (default: $FEDISERVER_CONFIG or ./fediserver.toml)",
    )
    return parent


def settings_from(args: argparse.Namespace) -> Settings:
    return load_config(Path(args.config), environ=os.environ)


@contextlib.asynccontextmanager
async def open_session(settings: Settings, *, check_schema: bool = True) -> AsyncIterator[AsyncSession]:
    """A session on the configured database, refusing to run against an unmigrated schema."""
    engine = engine_from_settings(settings)
    try:
        if check_schema:
            current = await migrate.current_revision(engine)
            if current != migrate.head_revision():
                raise CommandError(f"the database schema is at {current or 'nothing'}: run `fediserver migrate` first")
        async with session_factory(engine)() as session:
            try:
                yield session
            except AppError as exc:
                raise CommandError(exc.message, EXIT_NOT_AVAILABLE if exc.status_code == 501 else EXIT_ERROR) from None
    finally:
        await engine.dispose()


@dataclass
class WorkerRuntime:
    """What a long-running worker command needs; ``stop`` is set by SIGINT or SIGTERM."""

    settings: Settings
    fed: Federation
    sessions: async_sessionmaker[AsyncSession]
    stop: asyncio.Event
    engine: AsyncEngine


@contextlib.asynccontextmanager
async def worker_runtime(args: argparse.Namespace) -> AsyncIterator[WorkerRuntime]:
    from fediserver.app import build_http_client
    from fediserver.logs import configure_logging
    from fediserver.urls import Urls

    settings = settings_from(args)
    configure_logging(settings.logging)
    async with open_session(settings):
        pass
    engine = engine_from_settings(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with build_http_client(settings) as http:
            fed = Federation(settings=settings, urls=Urls.from_settings(settings), http=http)
            yield WorkerRuntime(settings, fed, session_factory(engine), stop, engine)
    finally:
        await engine.dispose()
