"""``token create``, ``token list``, ``token revoke``: access tokens for bots and scripts (issue 10 point 2)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from sqlalchemy import select

from fediserver import accounts
from fediserver.cli.common import CommandError, config_parent, open_session, settings_from
from fediserver.models import OAuthToken, User, utcnow
from fediserver.oauth import grants
from fediserver.oauth.grants import OOB
from fediserver.oauth.scopes import InvalidScope, Scopes


def register(commands: Any) -> None:
    token = commands.add_parser("token", help="manage API access tokens")
    sub = token.add_subparsers(dest="token_command", metavar="SUBCOMMAND", required=True)
    create = sub.add_parser(
        "create", parents=[config_parent()], help="make an access token for a user (printed on the last line)"
    )
    create.add_argument("name", help="the user's username")
    create.add_argument("--scopes", default="read write follow", help='space-separated (default "read write follow")')
    create.add_argument("--app-name", default="fediserver CLI", metavar="TEXT", help="shown in the token list")
    create.set_defaults(handler=cmd_create)
    listing = sub.add_parser("list", parents=[config_parent()], help="list a user's tokens (never the secrets)")
    listing.add_argument("name", help="the user's username")
    listing.set_defaults(handler=cmd_list)
    revoke = sub.add_parser("revoke", parents=[config_parent()], help="revoke a token by its id (from token list)")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(handler=cmd_revoke)


async def _user(session: Any, name: str) -> User:
    actor = await accounts.get_user_actor(session, name)
    user = await session.scalar(select(User).where(User.actor_id == actor.id))
    if user is None:
        raise CommandError(f"no local user {name!r}")
    return user  # type: ignore[no-any-return]


async def _create(args: argparse.Namespace) -> tuple[int, str, str]:
    try:
        scopes = Scopes.parse(args.scopes)
    except InvalidScope as exc:
        raise CommandError(str(exc)) from None
    async with open_session(settings_from(args)) as session:
        user = await _user(session, args.name)
        app, _secret = await grants.register_app(session, args.app_name, [OOB], scopes, None)
        issued = await grants.issue_token(session, app, user, scopes, refresh=False)
        await session.commit()
        return issued.row.id, str(scopes), issued.access_token


def cmd_create(args: argparse.Namespace) -> int:
    token_id, scopes, token = asyncio.run(_create(args))
    print(f"token id: {token_id}")
    print(f"scopes: {scopes}")
    print(token)
    return 0


async def _list(args: argparse.Namespace) -> list[OAuthToken]:
    async with open_session(settings_from(args)) as session:
        user = await _user(session, args.name)
        rows = await session.scalars(select(OAuthToken).where(OAuthToken.user_id == user.id).order_by(OAuthToken.id))
        return list(rows)


def cmd_list(args: argparse.Namespace) -> int:
    for row in asyncio.run(_list(args)):
        app = row.application.name if row.application else "-"
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        print("\t".join([str(row.id), app, row.scopes, f"{row.created_at:%Y-%m-%d %H:%M}", state]))
    return 0


async def _revoke(args: argparse.Namespace) -> None:
    async with open_session(settings_from(args)) as session:
        row = await session.get(OAuthToken, args.token_id)
        if row is None:
            raise CommandError(f"no token {args.token_id}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        await session.commit()


def cmd_revoke(args: argparse.Namespace) -> int:
    asyncio.run(_revoke(args))
    print(f"revoked token {args.token_id}")
    return 0
