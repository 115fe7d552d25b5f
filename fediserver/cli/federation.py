"""``follow``, ``unfollow``, ``timeline`` and ``domain``: federation from the command line.

These commands only queue deliveries; the running server's worker (or ``fediserver worker``) sends them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fediserver import accounts
from fediserver.cli.common import CommandError, config_parent, open_session, settings_from
from fediserver.domain import relations, timelines
from fediserver.domain.services import Services, open_services
from fediserver.errors import InvalidInput
from fediserver.federation.sanitize import plain_text


def register(commands: Any) -> None:
    fol = commands.add_parser("follow", parents=[config_parent()], help="follow an account as a user")
    fol.add_argument("name", help="the local user")
    fol.add_argument("account", help="@user@host or an actor URL")
    fol.set_defaults(handler=cmd_follow)
    unf = commands.add_parser("unfollow", parents=[config_parent()], help="stop following an account")
    unf.add_argument("name")
    unf.add_argument("account")
    unf.set_defaults(handler=cmd_unfollow)
    tl = commands.add_parser("timeline", parents=[config_parent()], help="print a user's home timeline")
    tl.add_argument("name")
    tl.add_argument("--limit", type=int, default=20)
    tl.set_defaults(handler=cmd_timeline)
    dom = commands.add_parser("domain", help="block or unblock whole domains")
    sub = dom.add_subparsers(dest="domain_command", metavar="SUBCOMMAND", required=True)
    block = sub.add_parser("block", parents=[config_parent()], help="refuse everything from a domain")
    block.add_argument("domain")
    block.add_argument("--reason", default="")
    block.set_defaults(handler=cmd_block)
    unblock = sub.add_parser("unblock", parents=[config_parent()], help="lift a domain block")
    unblock.add_argument("domain")
    unblock.set_defaults(handler=cmd_unblock)
    listing = sub.add_parser("list", parents=[config_parent()], help="list blocked domains")
    listing.set_defaults(handler=cmd_domains)


@contextlib.asynccontextmanager
async def services(args: argparse.Namespace) -> AsyncIterator[tuple[Services, AsyncSession]]:
    settings = settings_from(args)
    async with open_session(settings) as session, open_services(settings) as svc:
        yield svc, session


async def _follow(args: argparse.Namespace, undo: bool) -> str:
    async with services(args) as (svc, session):
        me = await accounts.get_user_actor(session, args.name)
        if undo:
            await relations.unfollow(svc, session, me, args.account)
            await session.commit()
            return f"{args.name} unfollowed {args.account}"
        row = await relations.follow(svc, session, me, args.account)
        await session.commit()
        if row.state == "accepted":
            return f"{args.name} follows {row.followed_uri}"
        return f"{args.name} asked to follow {row.followed_uri} (pending until they accept)"


def cmd_follow(args: argparse.Namespace) -> int:
    print(asyncio.run(_follow(args, undo=False)))
    return 0


def cmd_unfollow(args: argparse.Namespace) -> int:
    print(asyncio.run(_follow(args, undo=True)))
    return 0


async def _timeline(args: argparse.Namespace) -> list[str]:
    async with services(args) as (svc, session):
        me = await accounts.get_user_actor(session, args.name)
        reader = timelines.Reader(actor=me, uri=svc.urls.actor(me.username))
        entries = await timelines.home(session, reader, timelines.Newest(args.limit))
        return [
            f"{e.at:%Y-%m-%d %H:%M} {e.note.attributed_to}"
            + (f" (boosted by {e.boosted_by})" if e.boosted_by else "")
            + f"\n  {plain_text(e.note.content)}\n  {e.note.uri}"
            for e in entries
        ]


def cmd_timeline(args: argparse.Namespace) -> int:
    for entry in asyncio.run(_timeline(args)):
        print(entry)
    return 0


def _domain(value: str) -> str:
    try:
        return relations.normalise_domain(value)
    except InvalidInput as exc:
        raise CommandError(exc.message) from None


async def _block(args: argparse.Namespace, block: bool) -> None:
    async with services(args) as (svc, session):
        if block:
            await relations.block_domain(svc, session, _domain(args.domain), args.reason)
        else:
            await relations.unblock_domain(svc, session, _domain(args.domain))
        await session.commit()


def cmd_block(args: argparse.Namespace) -> int:
    asyncio.run(_block(args, block=True))
    print(f"blocked {_domain(args.domain)} (the running server picks this up within 30 s)")
    return 0


def cmd_unblock(args: argparse.Namespace) -> int:
    asyncio.run(_block(args, block=False))
    print(f"unblocked {_domain(args.domain)}")
    return 0


async def _domains(args: argparse.Namespace) -> list[tuple[str, str]]:
    async with services(args) as (svc, session):
        return await relations.blocked_domains(svc, session)


def cmd_domains(args: argparse.Namespace) -> int:
    for domain, reason in asyncio.run(_domains(args)):
        print(f"{domain}\t{reason}".rstrip())
    return 0
