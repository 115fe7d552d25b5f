"""The ``fediserver`` command line. Every command takes ``--config PATH`` (or ``$FEDISERVER_CONFIG``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from fediserver.cli import assist, content, federation, generate, profiles, run, setup, tokens, users
from fediserver.cli.common import EXIT_ERROR, CommandError, config_parent
from fediserver.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fediserver",
        description="A self-hostable ActivityPub server for images made on the instance's own GPU.",
        parents=[config_parent(top_level=True)],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    setup.register(commands)
    run.register(commands)
    users.register(commands)
    content.register(commands)
    federation.register(commands)
    generate.register(commands)
    assist.register(commands)
    profiles.register(commands)
    tokens.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config is None:
        args.config = os.environ.get("FEDISERVER_CONFIG", "fediserver.toml")
    try:
        code: int = args.handler(args)
    except (CommandError, ConfigError) as exc:
        print(f"fediserver {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, CommandError) else EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return code


def entry() -> None:
    sys.exit(main())
