"""Undo of Follow, Like, Announce and Block, with the object given by id or embedded (checklist 37)."""

from __future__ import annotations

from sqlalchemy import delete, select

import activitypub as ap
from fediserver.domain import streams
from fediserver.domain.notifications import withdraw
from fediserver.federation.inbound.context import Inbound
from fediserver.models import ActorBlock, Announce, Follow, Like, Note


async def on_undo(ctx: Inbound) -> None:
    obj = ctx.object
    undone_id = ap.get_id(obj)
    kind = ap.get_types(obj)[0] if isinstance(obj, dict) and ap.get_types(obj) else None
    actor = ctx.actor.uri
    if kind in (None, "Follow"):
        followed = select(Follow.followed_uri).where(Follow.activity_uri == undone_id, Follow.follower_uri == actor)
        targets = list(await ctx.session.scalars(followed))
        await ctx.session.execute(delete(Follow).where(Follow.activity_uri == undone_id, Follow.follower_uri == actor))
        if kind == "Follow":
            # Match by pair too: the Follow may have been superseded by a newer one with another id.
            target = ap.get_id(obj.get("object")) if isinstance(obj, dict) else None
            targets.append(target or "")
            await ctx.session.execute(delete(Follow).where(Follow.follower_uri == actor, Follow.followed_uri == target))
        recipients = [local.id for uri in targets if (local := await ctx.local_actor(uri)) is not None]
        await withdraw(ctx.session, ["follow", "follow_request"], actor, recipient_ids=recipients)
    if kind in (None, "Like"):
        liked = select(Like.note_uri).where(Like.activity_uri == undone_id, Like.actor_uri == actor)
        await withdraw(ctx.session, ["favourite"], actor, list(await ctx.session.scalars(liked)))
        await ctx.session.execute(delete(Like).where(Like.activity_uri == undone_id, Like.actor_uri == actor))
    if kind in (None, "Announce"):
        undone = (
            await ctx.session.execute(
                select(Announce, Note)
                .join(Note, Note.uri == Announce.note_uri, isouter=True)
                .where(Announce.activity_uri == undone_id, Announce.actor_uri == actor)
            )
        ).all()
        await withdraw(ctx.session, ["reblog"], actor, [boost.note_uri for boost, _ in undone])
        for boost, note in undone:
            if note is not None:
                await streams.boost_event(ctx.session, ctx.fed.urls, boost, note, "unreblog")
        await ctx.session.execute(
            delete(Announce).where(Announce.activity_uri == undone_id, Announce.actor_uri == actor)
        )
    if kind in (None, "Block"):
        await ctx.session.execute(
            delete(ActorBlock).where(ActorBlock.activity_uri == undone_id, ActorBlock.actor_uri == actor)
        )
