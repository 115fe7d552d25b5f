"""``post`` and ``generate``."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from fediserver import accounts, posting
from fediserver.app import build_http_client
from fediserver.cli.common import CommandError, config_parent, open_session, settings_from
from fediserver.federation import publishing
from fediserver.federation.context import Federation
from fediserver.media import LocalMediaStore, MediaLimits, ingest_upload
from fediserver.models import VISIBILITIES
from fediserver.urls import Urls


def register(commands: Any) -> None:
    post = commands.add_parser("post", parents=[config_parent()], help="publish a post as a user")
    post.add_argument("name", help="the posting user's username")
    post.add_argument("--text", required=True)
    post.add_argument("--image", type=Path, metavar="FILE", help="attach a PNG, JPEG, WebP or GIF image")
    post.add_argument("--alt", default="", metavar="TEXT", help="the image's description (alt text)")
    post.add_argument("--visibility", choices=VISIBILITIES, default="public")
    post.set_defaults(handler=cmd_post)


async def _post(args: argparse.Namespace, image: bytes | None) -> str:
    settings = settings_from(args)
    urls = Urls.from_settings(settings)
    store = LocalMediaStore(settings.media_dir)
    async with open_session(settings) as session:
        actor = await accounts.get_user_actor(session, args.name)
        stored = None
        if image is not None:
            stored = await asyncio.to_thread(ingest_upload, store, image, MediaLimits.from_settings(settings.media))
        note = await posting.create_post(
            session,
            urls,
            store,
            actor,
            args.text,
            visibility=args.visibility,
            image=stored,
            alt=args.alt,
        )
        async with build_http_client(settings) as http:
            fed = Federation(settings=settings, urls=urls, http=http)
            await publishing.publish_note(fed, session, actor, note)
        await session.commit()
        return note.uri


def cmd_post(args: argparse.Namespace) -> int:
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
