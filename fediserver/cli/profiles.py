"""``profile``, ``follow-requests`` and ``move``: a user's account from the command line.

Like every command that federates, these queue deliveries; the server's worker sends them.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from fediserver import accounts
from fediserver.cli.common import CommandError, config_parent, open_session, settings_from
from fediserver.domain import accounts as account_cases
from fediserver.domain import link_checks, profiles, relations
from fediserver.domain.services import open_services
from fediserver.imagegen import jobs as generation_jobs


def register(commands: Any) -> None:
    prof = commands.add_parser("profile", parents=[config_parent()], help="show or change a user's profile")
    prof.add_argument("name", help="the local user")
    prof.add_argument("--display-name", metavar="TEXT")
    prof.add_argument("--bio", metavar="TEXT")
    avatar = prof.add_mutually_exclusive_group()
    avatar.add_argument("--avatar", type=Path, metavar="FILE", help="a PNG, JPEG, WebP or GIF image")
    avatar.add_argument("--avatar-prompt", metavar="TEXT", help="generate the avatar on the GPU worker")
    header = prof.add_mutually_exclusive_group()
    header.add_argument("--header", type=Path, metavar="FILE")
    header.add_argument("--header-prompt", metavar="TEXT", help="generate the header on the GPU worker")
    prof.add_argument(
        "--field",
        action="append",
        metavar="NAME=VALUE",
        help="a profile field (repeat, up to 4; replaces all fields; a link is checked for rel=me)",
    )
    prof.add_argument("--no-fields", action="store_true", help="remove every profile field")
    locked = prof.add_mutually_exclusive_group()
    locked.add_argument("--locked", dest="locked", action="store_const", const=True, help="approve followers")
    locked.add_argument("--unlocked", dest="locked", action="store_const", const=False)
    prof.add_argument("--bot", action=argparse.BooleanOptionalAction, help="mark the account as a bot (Service)")
    prof.add_argument("--discoverable", action=argparse.BooleanOptionalAction)
    prof.add_argument("--indexable", action=argparse.BooleanOptionalAction)
    prof.add_argument(
        "--also-known-as", action="append", metavar="ACCOUNT", help="an account this one moves from (repeat)"
    )
    prof.add_argument("--pin", metavar="URL", help="pin one of the user's posts")
    prof.add_argument("--unpin", metavar="URL")
    prof.set_defaults(handler=cmd_profile)
    req = commands.add_parser("follow-requests", parents=[config_parent()], help="list, accept or reject")
    req.add_argument("name")
    answer = req.add_mutually_exclusive_group()
    answer.add_argument("--accept", metavar="ACCOUNT")
    answer.add_argument("--reject", metavar="ACCOUNT")
    req.set_defaults(handler=cmd_follow_requests)
    mov = commands.add_parser("move", parents=[config_parent()], help="move a user's followers to another account")
    mov.add_argument("name")
    mov.add_argument("--to", required=True, metavar="ACCOUNT", help="the new account (lists us in alsoKnownAs)")
    mov.set_defaults(handler=cmd_move)


def _read(path: Path | None, option: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"{option}: {exc}") from None


def _fields(args: argparse.Namespace) -> list[tuple[str, str]] | None:
    if args.no_fields:
        return []
    if args.field is None:
        return None
    fields = []
    for item in args.field:
        name, sep, value = item.partition("=")
        if not sep:
            raise CommandError(f"--field {item!r}: expected NAME=VALUE")
        fields.append((name, value))
    return fields


def profile_change(args: argparse.Namespace) -> profiles.ProfileChange:
    return profiles.ProfileChange(
        display_name=args.display_name,
        bio=args.bio,
        avatar=_read(args.avatar, "--avatar"),
        header=_read(args.header, "--header"),
        fields=_fields(args),
        locked=args.locked,
        bot=args.bot,
        discoverable=args.discoverable,
        indexable=args.indexable,
    )


async def _profile(args: argparse.Namespace, change: profiles.ProfileChange) -> list[str]:
    settings = settings_from(args)
    out = []
    async with open_session(settings) as session, open_services(settings) as svc:
        actor = await accounts.get_user_actor(session, args.name)
        if change != profiles.ProfileChange():
            await profiles.update_profile(svc, session, actor, change)
            if change.fields and link_checks.has_links(actor):
                # The worker (``fediserver serve`` or ``fediserver worker``) checks the links.
                out.append("rel=me links: verification queued")
        if args.also_known_as is not None:
            await account_cases.set_aliases(svc, session, actor, args.also_known_as)
        for purpose, prompt in (("avatar", args.avatar_prompt), ("header", args.header_prompt)):
            if prompt is not None:
                request = generation_jobs.build_request(settings, prompt)
                job = await generation_jobs.enqueue(session, actor, request, purpose=purpose, quota=settings)
                out.append(f"{purpose} queued: seed {job.seed}, {svc.urls.generation(job.token)}")
        if args.pin is not None:
            await profiles.pin(svc, session, actor, args.pin)
        if args.unpin is not None:
            await profiles.unpin(svc, session, actor, args.unpin)
        await session.commit()
        out += _describe(svc.urls.handle(actor.username), actor)
    return out


def _describe(handle: str, actor: Any) -> list[str]:
    lines = [
        handle,
        f"display name: {actor.display_name}",
        f"bio: {actor.summary}",
        f"type: {actor.actor_type}{' (locked)' if actor.manually_approves_followers else ''}",
        f"discoverable: {actor.discoverable}, indexable: {actor.indexable}",
    ]
    if actor.avatar_key:
        lines.append(f"avatar: {actor.avatar_key}")
    if actor.header_key:
        lines.append(f"header: {actor.header_key}")
    for field in actor.fields:
        mark = " (verified)" if field.get("verified_at") else ""
        lines.append(f"field: {field['name']} = {field['value']}{mark}")
    lines += [f"also known as: {uri}" for uri in actor.also_known_as]
    if actor.moved_to:
        lines.append(f"moved to: {actor.moved_to}")
    return lines


def cmd_profile(args: argparse.Namespace) -> int:
    for line in asyncio.run(_profile(args, profile_change(args))):
        print(line)
    return 0


async def _follow_requests(args: argparse.Namespace) -> list[str]:
    settings = settings_from(args)
    async with open_session(settings) as session, open_services(settings) as svc:
        actor = await accounts.get_user_actor(session, args.name)
        if args.accept is not None:
            row = await relations.accept_follow_request(svc, session, actor, args.accept)
            await session.commit()
            return [f"accepted {row.follower_uri}"]
        if args.reject is not None:
            row = await relations.reject_follow_request(svc, session, actor, args.reject)
            await session.commit()
            return [f"rejected {row.follower_uri}"]
        return [
            f"{r.created_at:%Y-%m-%d %H:%M} {r.follower_uri}"
            for r in await relations.follow_requests(svc, session, actor)
        ]


def cmd_follow_requests(args: argparse.Namespace) -> int:
    for line in asyncio.run(_follow_requests(args)):
        print(line)
    return 0


async def _move(args: argparse.Namespace) -> str:
    settings = settings_from(args)
    async with open_session(settings) as session, open_services(settings) as svc:
        actor = await accounts.get_user_actor(session, args.name)
        await account_cases.move(svc, session, actor, args.to)
        await session.commit()
        return f"{args.name} moved to {actor.moved_to}; followers are told"


def cmd_move(args: argparse.Namespace) -> int:
    print(asyncio.run(_move(args)))
    return 0
