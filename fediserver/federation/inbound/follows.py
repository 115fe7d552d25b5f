"""Follow, Accept and Reject (checklist 36)."""

from __future__ import annotations

from sqlalchemy import select

import activitypub as ap
from fediserver.federation import outbound
from fediserver.federation.inbound.context import Inbound
from fediserver.models import Follow


async def on_follow(ctx: Inbound) -> None:
    """Record the follow; auto-Accept unless the user approves followers by hand. Repeats are idempotent."""
    target = await ctx.local_actor(ctx.object_id)
    if target is None:
        return
    follow_id = ctx.activity["id"]
    target_uri = ctx.fed.urls.actor(target.username)
    row = await ctx.session.scalar(
        select(Follow).where(Follow.follower_uri == ctx.actor.uri, Follow.followed_uri == target_uri)
    )
    if row is None:
        row = Follow(follower_uri=ctx.actor.uri, followed_uri=target_uri, activity_uri=follow_id, state="pending")
        ctx.session.add(row)
    else:
        # Mastodon re-sends Follow (with a new id) after key changes; keep one row, answer the new id.
        row.activity_uri = follow_id
    if target.manually_approves_followers and row.state != "accepted":
        row.state = "pending"
        await ctx.session.flush()
        # TODO(lead, issue 9): add a ``follow_request`` notification here once H4's notifications table
        # is merged (``fediserver follow-requests NAME`` lists pending requests meanwhile).
        return
    row.state = "accepted"
    await ctx.session.flush()
    accept = ap.accept(id=f"{target_uri}#accepts/follows/{row.id}", actor=target_uri, object=ctx.activity)
    await outbound.enqueue(ctx.fed, ctx.session, accept, target, [outbound.inbox_for(ctx.actor)])


async def _our_follow(ctx: Inbound) -> Follow | None:
    """The Follow an Accept/Reject answers: by its id, else by (follower, followee) (checklist 36)."""
    obj = ctx.object
    follow_id = ap.get_id(obj)
    if follow_id is not None:
        row = await ctx.session.scalar(select(Follow).where(Follow.activity_uri == follow_id))
        if row is not None and row.followed_uri == ctx.actor.uri:
            return row
    follower = ap.get_id(obj.get("actor")) if isinstance(obj, dict) else None
    if follower is None:
        return None
    return await ctx.session.scalar(
        select(Follow).where(Follow.follower_uri == follower, Follow.followed_uri == ctx.actor.uri)
    )


async def on_accept(ctx: Inbound) -> None:
    row = await _our_follow(ctx)
    if row is not None:
        row.state = "accepted"


async def on_reject(ctx: Inbound) -> None:
    row = await _our_follow(ctx)
    if row is not None:
        row.state = "rejected"
