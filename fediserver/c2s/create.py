"""``Create{Note}`` from a client (ActivityPub §6.2) mapped onto the domain's ``publish_post``.

The Note's ``content`` (HTML) or ``source`` (``text/plain``) becomes the post's text, rendered like any
other post; the audience decides the visibility the way Mastodon reads it back (``Public`` in ``to``:
public; in ``cc``: unlisted; the followers collection: followers-only; else direct); named actors are
addressed, ``bto``/``bcc`` recipients are delivered to and never shown (§6). Attachments name media
uploaded before (``uploadMedia`` or the Mastodon API) by their URL or id; an Image with ``generation``
parameters and no ``url`` queues a generated-image post instead (``c2s.generate``).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

import activitypub as ap
from fediserver.c2s.context import Outbox
from fediserver.c2s.generate import generation_of, queue_generated_post
from fediserver.c2s.submission import Audience, BadActivity, Submission, WrongActor
from fediserver.domain import posts
from fediserver.federation.sanitize import plain_text
from fediserver.models import MediaAttachment

MAX_MEDIA = 4
_BREAKS = re.compile(r"<br\s*/?>|</p>\s*(?=<p)", re.IGNORECASE)


def text_of(note: dict[str, Any]) -> str:
    """The post's source text: ``source`` if plain text (§3.3), else ``content`` with tags removed."""
    source = note.get("source")
    if isinstance(source, dict) and source.get("mediaType", "text/plain") == "text/plain":
        if not isinstance(source.get("content"), str):
            raise BadActivity("source.content: a string is required")
        return str(source["content"])
    content = note.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise BadActivity("content: a string is required")
    return plain_text(_BREAKS.sub("\n", content)).strip()


def visibility(audience: Audience, followers: str) -> str:
    if ap.PUBLIC in audience.to:
        return "public"
    if ap.PUBLIC in audience.shown:
        return "unlisted"
    if followers in audience.shown:
        return "followers"
    # No audience at all stays private, as §6 recommends.
    return "direct"


def _references(item: Any) -> list[str]:
    """The attachment's id and every ``url`` it lists (a string, a Link or a list of them)."""
    urls = item.get("url") if isinstance(item, dict) else None
    listed = urls if isinstance(urls, list) else [urls] if urls is not None else []
    return [r for r in (ap.get_id(item), *(ap.get_id(u) for u in listed)) if r]


async def _media(box: Outbox, note: dict[str, Any]) -> list[MediaAttachment]:
    items = note.get("attachment")
    listed = items if isinstance(items, list) else [items] if items is not None else []
    if len(listed) > MAX_MEDIA:
        raise BadActivity(f"attachment: at most {MAX_MEDIA}")
    prefixes = (box.svc.urls.media(""), box.svc.urls.media_object(box.me.username, ""))
    found: list[MediaAttachment] = []
    for item in listed:
        refs = _references(item)
        keys = [r[len(p) :] for r in refs for p in prefixes if r.startswith(p)]
        row = None
        if keys:
            row = await box.session.scalar(
                select(MediaAttachment).where(
                    MediaAttachment.storage_key.in_(keys),
                    MediaAttachment.local_actor_id == box.me.id,
                    MediaAttachment.note_id.is_(None),
                )
            )
        if row is None:
            raise BadActivity("attachment: name media uploaded by this user and not yet attached, by URL")
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]:
            row.description = item["name"]
        found.append(row)
    return found


async def create(box: Outbox, sub: Submission) -> str:
    note = sub.object
    if not isinstance(note, dict):
        raise BadActivity("object: Create needs an embedded object")
    if note.get("type") != "Note":
        raise BadActivity(f"unsupported-type: only Note can be created, not {note.get('type')!r}")
    if note.get("attributedTo") is not None and ap.get_id(note["attributedTo"]) != box.me_uri:
        raise WrongActor(f"principal-actor-mismatch: attributedTo must be {box.me_uri}")
    followers = box.svc.urls.followers(box.me.username)
    named = tuple(u for u in sub.audience.shown if u not in (ap.PUBLIC, followers))
    await box.known_actors((*named, *sub.audience.hidden))
    reply = note.get("inReplyTo")
    summary = note.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise BadActivity("summary: a string is required")
    draft = posts.PostDraft(
        text=text_of(note),
        visibility=visibility(sub.audience, followers),
        summary=plain_text(summary or ""),
        sensitive=note.get("sensitive") is True,
        in_reply_to=ap.get_id(reply) if reply is not None else None,
        addressees=named,
        hidden=sub.audience.hidden,
    )
    generation = generation_of(note)
    if generation is not None:
        if named or sub.audience.hidden or draft.summary or draft.in_reply_to:
            raise BadActivity("a generated-image post takes text and visibility only (no addressees, cw or reply)")
        return await queue_generated_post(box, generation, draft.text, draft.visibility)
    media = await _media(box, note)
    created = await posts.publish_post(box.svc, box.session, box.me, draft, media=media)
    return box.svc.urls.note_activity(created.uri.rsplit("/", 1)[-1])
