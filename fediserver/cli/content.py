"""``post``, ``delete`` and ``notifications``: a user's posts and what happened to them."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from fediserver import accounts
from fediserver.cli.common import CommandError, config_parent, open_session, settings_from
from fediserver.domain import notifications, posts
from fediserver.domain.services import open_services
from fediserver.media import MediaLimits, ingest_upload
from fediserver.models import VISIBILITIES


def register(commands: Any) -> None:
    post = commands.add_parser(
        "post",
        parents=[config_parent()],
        help="publish a post as a user (@user@host mentions and #hashtags in the text are linked)",
    )
    post.add_argument("name", help="the posting user's username")
    post.add_argument("--text", required=True)
    post.add_argument("--image", type=Path, metavar="FILE", help="attach a PNG, JPEG, WebP or GIF image")
    post.add_argument("--alt", default="", metavar="TEXT", help="the image's description (alt text)")
    post.add_argument(
        "--visibility", choices=VISIBILITIES, help="default public; direct reaches only the mentioned accounts"
    )
    post.add_argument(
        "--assisted", action="store_true", help="the writing assistant helped with the text (adds a disclosure)"
    )
    post.add_argument("--reply-to", metavar="URL", help="the post this one answers (its author is mentioned)")
    post.add_argument("--edit", metavar="URL", help="replace the text of this post of yours (history is kept)")
    post.set_defaults(handler=cmd_post)
    delete = commands.add_parser("delete", parents=[config_parent()], help="delete one of a user's posts")
    delete.add_argument("name", help="the user")
    delete.add_argument("url", help="the post's URL")
    delete.set_defaults(handler=cmd_delete)
    notes = commands.add_parser("notifications", parents=[config_parent()], help="list a user's notifications")
    notes.add_argument("name", help="the user")
    notes.add_argument("--unread", action="store_true", help="only those not yet read")
    notes.add_argument("--mark-read", action="store_true", help="then mark them all read")
    notes.add_argument("--limit", type=int, default=40)
    notes.set_defaults(handler=cmd_notifications)


async def _post(args: argparse.Namespace, image: bytes | None) -> str:
    settings = settings_from(args)
    async with open_session(settings) as session, open_services(settings) as svc:
        actor = await accounts.get_user_actor(session, args.name)
        stored = None
        if image is not None:
            stored = await asyncio.to_thread(ingest_upload, svc.store, image, MediaLimits.from_settings(settings.media))
        if args.edit:
            note = await posts.edit_post(svc, session, actor, args.edit, posts.PostEdit(text=args.text))
        else:
            draft = posts.PostDraft(
                text=args.text,
                visibility=args.visibility or "public",
                in_reply_to=args.reply_to,
                image=stored,
                alt=args.alt,
                assisted=args.assisted,
            )
            note = await posts.publish_post(svc, session, actor, draft)
        await session.commit()
        return note.uri


def cmd_post(args: argparse.Namespace) -> int:
    if args.edit and (args.image is not None or args.reply_to or args.visibility):
        raise CommandError("--edit changes the text only: --image, --reply-to and --visibility cannot change")
    image = None
    if args.image is not None:
        try:
            image = args.image.read_bytes()
        except OSError as exc:
            raise CommandError(f"--image: {exc}") from None
    elif args.alt:
        raise CommandError("--alt describes an image: give --image too")
    print(asyncio.run(_post(args, image)))
    return 0


async def _delete(args: argparse.Namespace) -> str:
    settings = settings_from(args)
    async with open_session(settings) as session, open_services(settings) as svc:
        actor = await accounts.get_user_actor(session, args.name)
        note = await posts.delete_post(svc, session, actor, args.url)
        await session.commit()
        return f"deleted {note.uri}"


def cmd_delete(args: argparse.Namespace) -> int:
    print(asyncio.run(_delete(args)))
    return 0


async def _notifications(args: argparse.Namespace) -> list[str]:
    async with open_session(settings_from(args)) as session:
        actor = await accounts.get_user_actor(session, args.name)
        query = notifications.NotificationQuery(unread_only=args.unread, limit=args.limit)
        rows = await notifications.list_notifications(session, actor, query)
        lines = [
            f"{row.created_at:%Y-%m-%d %H:%M} {'*' if row.read_at is None else ' '} {row.type:<14} "
            f"{row.from_actor_uri}{' ' + row.note_uri if row.note_uri else ''}"
            for row in rows
        ]
        if args.mark_read and rows:
            await notifications.mark_read(session, actor, rows[0].id)
            await session.commit()
        return lines


def cmd_notifications(args: argparse.Namespace) -> int:
    for line in asyncio.run(_notifications(args)):
        print(line)
    return 0
