"""Like and Announce."""

from __future__ import annotations

from sqlalchemy import select

import activitypub as ap
from fediserver.domain import streams
from fediserver.domain.notifications import notify
from fediserver.federation.inbound.context import Inbound
from fediserver.federation.inbound.notes import NOTE_TYPES, store_note
from fediserver.models import Announce, Follow, Like, Note


async def on_like(ctx: Inbound) -> None:
    note = await ctx.local_note(ctx.object_id)
    if note is None:
        return
    exists = await ctx.session.scalar(select(Like.id).where(Like.actor_uri == ctx.actor.uri, Like.note_uri == note.uri))
    if exists is None:
        ctx.session.add(Like(activity_uri=ctx.activity["id"], actor_uri=ctx.actor.uri, note_uri=note.uri))
    if note.local_actor_id is not None:
        await notify(ctx.session, note.local_actor_id, "favourite", ctx.actor.uri, note.uri)


async def on_announce(ctx: Inbound) -> None:
    """A boost of our post is counted; a boost by someone we follow brings the post to the timeline."""
    object_id = ctx.object_id
    if object_id is None:
        return
    note = await ctx.local_note(object_id)
    if note is None:
        base = ctx.fed.urls.base + "/"
        followed = await ctx.session.scalar(
            select(Follow.id).where(
                Follow.followed_uri == ctx.actor.uri,
                Follow.follower_uri.startswith(base),
                Follow.state == "accepted",
            )
        )
        if followed is None:
            return
        # Never trust an embedded copy of someone else's post: fetch it from its origin (checklist 32).
        doc = await ctx.fetch(object_id)
        if not ap.has_type(doc, *NOTE_TYPES):
            return
        author_id = ap.get_id(doc.get("attributedTo"))
        if author_id is None:
            return
        author = await ctx.remote_actor(author_id)
        await store_note(ctx, doc, author)
    exists = await ctx.session.scalar(
        select(Announce.id).where(Announce.actor_uri == ctx.actor.uri, Announce.note_uri == object_id)
    )
    if exists is None:
        row = Announce(activity_uri=ctx.activity["id"], actor_uri=ctx.actor.uri, note_uri=object_id)
        ctx.session.add(row)
        await ctx.session.flush()
        boosted = note or await ctx.session.scalar(select(Note).where(Note.uri == object_id))
        if boosted is not None:
            await streams.boost_event(ctx.session, ctx.fed.urls, row, boosted, "reblog")
    if note is not None and note.local_actor_id is not None:
        await notify(ctx.session, note.local_actor_id, "reblog", ctx.actor.uri, note.uri)
