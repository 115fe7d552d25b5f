"""Block, Flag and Move."""

from __future__ import annotations

from sqlalchemy import delete, or_, select

import activitypub as ap
from fediserver.federation import following
from fediserver.federation.inbound.context import Inbound
from fediserver.models import ActorBlock, Follow, Report


async def on_block(ctx: Inbound) -> None:
    """A remote actor blocks a local one: record it and end follows both ways."""
    target = await ctx.local_actor(ctx.object_id)
    if target is None:
        return
    target_uri = ctx.fed.urls.actor(target.username)
    exists = await ctx.session.scalar(
        select(ActorBlock.id).where(ActorBlock.actor_uri == ctx.actor.uri, ActorBlock.target_uri == target_uri)
    )
    if exists is None:
        ctx.session.add(ActorBlock(activity_uri=ctx.activity["id"], actor_uri=ctx.actor.uri, target_uri=target_uri))
    await ctx.session.execute(
        delete(Follow).where(
            or_(
                (Follow.follower_uri == ctx.actor.uri) & (Follow.followed_uri == target_uri),
                (Follow.follower_uri == target_uri) & (Follow.followed_uri == ctx.actor.uri),
            )
        )
    )


async def on_flag(ctx: Inbound) -> None:
    """A report: kept whole for moderators."""
    exists = await ctx.session.scalar(select(Report.id).where(Report.activity_uri == ctx.activity["id"]))
    if exists is not None:
        return
    content = ctx.activity.get("content")
    ctx.session.add(
        Report(
            activity_uri=ctx.activity["id"],
            actor_uri=ctx.actor.uri,
            object_uris=ap.get_ids(ctx.object),
            content=content if isinstance(content, str) else "",
            raw=ctx.activity,
        )
    )


async def on_move(ctx: Inbound) -> None:
    """An actor moved: once the target confirms it with ``alsoKnownAs``, record ``movedTo`` and have
    every local follower follow the new account and leave the old one, as Mastodon's ``MoveWorker``
    does (checklist 50). A local follower who already follows the new account stays as they are.
    """
    if ctx.object_id != ctx.actor.uri:
        return
    target_id = ap.get_id(ctx.activity.get("target"))
    if target_id is None:
        return
    target = await ctx.remote_actor(target_id, refresh=True)
    if ctx.actor.uri not in ap.get_ids(target.raw.get("alsoKnownAs")):
        return
    ctx.actor.moved_to = target.uri
    base = ctx.fed.urls.base + "/"
    followers = await ctx.session.scalars(
        select(Follow.follower_uri).where(
            Follow.followed_uri == ctx.actor.uri, Follow.follower_uri.startswith(base), Follow.state == "accepted"
        )
    )
    for follower_uri in list(followers):
        local = await ctx.local_actor(follower_uri)
        if local is None:
            continue
        already = await ctx.session.scalar(
            select(Follow.id).where(Follow.follower_uri == follower_uri, Follow.followed_uri == target.uri)
        )
        if already is None:
            await following.follow_actor(ctx.fed, ctx.session, local, target)
        await following.unfollow_actor(ctx.fed, ctx.session, local, ctx.actor)
