"""``init`` and ``migrate``."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from fediserver import accounts, migrate
from fediserver.cli.common import config_parent, open_session, settings_from
from fediserver.configfile import write_new_config
from fediserver.db import engine_from_settings


def register(commands: Any) -> None:
    init = commands.add_parser("init", parents=[config_parent()], help="write a new config file with fresh secrets")
    init.add_argument("--domain", required=True, metavar="HOST[:PORT]", help="the instance's public host name")
    init.add_argument("--scheme", choices=["https", "http"], default="https", help="http only for local development")
    init.add_argument(
        "--data-dir", default="data", metavar="DIR", help="where the database and media go (default: data)"
    )
    init.add_argument("--force", action="store_true", help="replace an existing config file")
    init.set_defaults(handler=cmd_init)

    mig = commands.add_parser("migrate", parents=[config_parent()], help="create or upgrade the database schema")
    mig.set_defaults(handler=cmd_migrate)


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.config)
    write_new_config(path, args.domain.lower(), args.scheme, args.data_dir, force=args.force)
    print(f"wrote {path} for {args.scheme}://{args.domain.lower()}")
    print(f"next: fediserver --config {path} migrate")
    return 0


async def _migrate(args: argparse.Namespace) -> str | None:
    settings = settings_from(args)
    engine = engine_from_settings(settings)
    try:
        await migrate.upgrade(engine)
        revision = await migrate.current_revision(engine)
    finally:
        await engine.dispose()
    async with open_session(settings) as session:
        await accounts.ensure_instance_actor(session)
        await session.commit()
    return revision


def cmd_migrate(args: argparse.Namespace) -> int:
    revision = asyncio.run(_migrate(args))
    print(f"database at revision {revision}")
    return 0
