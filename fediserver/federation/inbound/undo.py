"""Undo of Follow, Like, Announce and Block, with the object given by id or embedded (checklist 37)."""

from __future__ import annotations

from sqlalchemy import delete

import activitypub as ap
from fediserver.federation.inbound.context import Inbound
from fediserver.models import ActorBlock, Announce, Follow, Like


async def on_undo(ctx: Inbound) -> None:
    obj = ctx.object
    undone_id = ap.get_id(obj)
    kind = ap.get_types(obj)[0] if isinstance(obj, dict) and ap.get_types(obj) else None
    actor = ctx.actor.uri
    if kind in (None, "Follow"):
        await ctx.session.execute(delete(Follow).where(Follow.activity_uri == undone_id, Follow.follower_uri == actor))
        if kind == "Follow":
            # Match by pair too: the Follow may have been superseded by a newer one with another id.
            target = ap.get_id(obj.get("object")) if isinstance(obj, dict) else None
            await ctx.session.execute(delete(Follow).where(Follow.follower_uri == actor, Follow.followed_uri == target))
    if kind in (None, "Like"):
        await ctx.session.execute(delete(Like).where(Like.activity_uri == undone_id, Like.actor_uri == actor))
    if kind in (None, "Announce"):
        await ctx.session.execute(
            delete(Announce).where(Announce.activity_uri == undone_id, Announce.actor_uri == actor)
        )
    if kind in (None, "Block"):
        await ctx.session.execute(
            delete(ActorBlock).where(ActorBlock.activity_uri == undone_id, ActorBlock.actor_uri == actor)
        )
