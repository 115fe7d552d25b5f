"""``user create|list|delete``; moderation: ``user role NAME ROLE`` and ``user suspend|unsuspend|silence|unsilence
NAME`` (the same ``domain.moderation`` functions the web UI calls)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from fediserver import accounts
from fediserver.cli.common import CommandError, config_parent, open_session, settings_from
from fediserver.domain import accounts as account_cases
from fediserver.domain import moderation
from fediserver.domain.services import open_services
from fediserver.models import ROLES, User
from fediserver.passwords import generate_password
from fediserver.urls import Urls


def register(commands: Any) -> None:
    user = commands.add_parser("user", help="manage local users")
    sub = user.add_subparsers(dest="user_command", metavar="SUBCOMMAND", required=True)
    create = sub.add_parser("create", parents=[config_parent()], help="create a user and print its credentials")
    create.add_argument("name", help="username: lowercase letters, digits and underscores")
    create.add_argument("--display-name", default="", metavar="TEXT")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (else one is generated)",
    )
    create.add_argument("--admin", action="store_true", help="give the user admin rights")
    create.set_defaults(handler=cmd_create)
    listing = sub.add_parser("list", parents=[config_parent()], help="list local users")
    listing.set_defaults(handler=cmd_list)
    remove = sub.add_parser(
        "delete", parents=[config_parent()], help="delete a user: content removed, Delete sent, name kept"
    )
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_delete)
    role = sub.add_parser("role", parents=[config_parent()], help="make a user a user, moderator or admin")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(handler=cmd_role)
    for action, text in MODERATION.items():
        moderate = sub.add_parser(action, parents=[config_parent()], help=text)
        moderate.add_argument("name")
        moderate.set_defaults(handler=cmd_moderate, action=action)


MODERATION = {
    "suspend": "suspend a user: no log-in, tokens revoked, profile and posts withheld, followers told",
    "unsuspend": "lift a suspension",
    "silence": "keep a user's posts off the local and federated feeds",
    "unsilence": "lift a silence",
}


async def _create(args: argparse.Namespace, password: str) -> str:
    settings = settings_from(args)
    async with open_session(settings) as session:
        await accounts.create_user(session, args.name, password, display_name=args.display_name, is_admin=args.admin)
        await session.commit()
    return Urls.from_settings(settings).handle(args.name)


def cmd_create(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        generated = False
    else:
        password = generate_password()
        generated = True
    handle = asyncio.run(_create(args, password))
    print(f"created {handle}{' (admin)' if args.admin else ''}")
    print(f"username: {args.name}")
    if generated:
        print(f"password: {password}")
    return 0


async def _list(args: argparse.Namespace) -> list[tuple[str, str, list[str]]]:
    settings = settings_from(args)
    urls = Urls.from_settings(settings)
    async with open_session(settings) as session:
        return [
            (urls.handle(u.actor.username), u.actor.display_name, _marks(u)) for u in await accounts.list_users(session)
        ]


def _marks(user: User) -> list[str]:
    """The role (when not ``user``) and any suspension or silence, as ``user list`` shows them."""
    marks = [user.role] if user.role != "user" else []
    if user.actor.suspended_at is not None:
        marks.append("suspended")
    if user.actor.silenced_at is not None:
        marks.append("silenced")
    return marks


def cmd_list(args: argparse.Namespace) -> int:
    for handle, display_name, marks in asyncio.run(_list(args)):
        print("\t".join([handle, display_name, *marks]))
    return 0


async def _delete(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    async with open_session(settings) as session, open_services(settings) as svc:
        actor = await accounts.get_user_actor(session, args.name)
        jobs = await account_cases.delete_account(svc, session, actor)
        await session.commit()
    return len(jobs)


def cmd_delete(args: argparse.Namespace) -> int:
    count = asyncio.run(_delete(args))
    print(f"deleted {args.name}; Delete queued for {count} inboxes")
    return 0


async def _role(args: argparse.Namespace) -> None:
    settings = settings_from(args)
    async with open_session(settings) as session:
        await moderation.set_role(session, await moderation.user_named(session, args.name), args.role)
        await session.commit()


def cmd_role(args: argparse.Namespace) -> int:
    asyncio.run(_role(args))
    print(f"{args.name} is now {args.role}")
    return 0


async def _moderate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    async with open_session(settings) as session, open_services(settings) as svc:
        user = await moderation.user_named(session, args.name)
        jobs = []
        if args.action == "suspend":
            jobs = await moderation.suspend(svc, session, user)
        elif args.action == "unsuspend":
            jobs = await moderation.unsuspend(svc, session, user)
        elif args.action == "silence":
            await moderation.silence(session, user)
        else:
            await moderation.unsilence(session, user)
        await session.commit()
    return len(jobs)


def cmd_moderate(args: argparse.Namespace) -> int:
    count = asyncio.run(_moderate(args))
    done = {"suspend": "suspended", "unsuspend": "unsuspended", "silence": "silenced", "unsilence": "unsilenced"}
    print(f"{done[args.action]} {args.name}" + (f"; Update queued for {count} inboxes" if count else ""))
    return 0
