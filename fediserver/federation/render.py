"""model_to_as: our database rows as ActivityStreams documents."""

from __future__ import annotations

import html
from typing import Any

import activitypub as ap
from fediserver.models import GenerationJob, LocalActor, MediaAttachment, Note
from fediserver.urls import Urls

JSON = dict[str, Any]


def actor_to_as(actor: LocalActor, urls: Urls) -> JSON:
    """A user (Person/Service) or the instance actor (Application)."""
    if actor.actor_type == "Application":
        doc = ap.actor(
            id=urls.instance_actor(),
            username=urls.domain,
            type="Application",
            key_id=urls.instance_actor_key(),
            public_key_pem=actor.public_key_pem,
            shared_inbox=urls.shared_inbox(),
            manually_approves_followers=True,
            published=actor.created_at,
            url=urls.base + "/",
        )
        # The instance actor has no collections of its own; point them at itself so Mastodon's
        # parser finds the properties it requires, as Mastodon's own instance actor does.
        doc["inbox"] = urls.shared_inbox()
        for name in ("outbox", "followers", "following"):
            doc[name] = urls.instance_collection(name)
        return doc
    doc = ap.actor(
        id=urls.actor(actor.username),
        username=actor.username,
        type=actor.actor_type,
        key_id=urls.actor_key(actor.username),
        public_key_pem=actor.public_key_pem,
        name=actor.display_name or actor.username,
        summary=actor.summary or "",
        url=urls.profile(actor.username),
        shared_inbox=urls.shared_inbox(),
        icon_url=urls.media(actor.avatar_key) if actor.avatar_key else None,
        icon_media_type=actor.avatar_media_type,
        manually_approves_followers=actor.manually_approves_followers,
        discoverable=actor.discoverable,
        indexable=actor.indexable,
        published=actor.created_at,
        fields=[(str(f["name"]), field_value_html(str(f["value"]))) for f in actor.fields],
    )
    doc["featured"] = urls.featured(actor.username)
    # Where an ActivityPub client gets a token for the outbox (ActivityPub §4.1, FEP-d8c2).
    doc["endpoints"] = {
        **doc.get("endpoints", {}),
        "oauthAuthorizationEndpoint": urls.api("/oauth/authorize"),
        "oauthTokenEndpoint": urls.api("/oauth/token"),
        "uploadMedia": urls.upload_media(actor.username),
        "proxyUrl": urls.proxy_url(actor.username),
    }
    if actor.header_key:
        doc["image"] = {"type": "Image", "mediaType": actor.header_media_type, "url": urls.media(actor.header_key)}
    if actor.also_known_as or actor.moved_to:
        doc["@context"] = [*doc["@context"], ALIAS_CONTEXT]
    if actor.also_known_as:
        doc["alsoKnownAs"] = list(actor.also_known_as)
    if actor.moved_to:
        doc["movedTo"] = actor.moved_to
    if actor.suspended_at is not None:
        _as_suspended(doc)
    return doc


def _as_suspended(doc: JSON) -> None:
    """Mastodon's ``ActorSerializer`` for a suspended account: no profile, ``suspended: true``."""
    for name in ("icon", "image", "attachment", "alsoKnownAs", "movedTo"):
        doc.pop(name, None)
    doc["name"], doc["summary"] = doc["preferredUsername"], ""
    doc["@context"] = [*ap.as_list(doc["@context"]), {"suspended": "toot:suspended"}]
    doc["suspended"] = True


# Mastodon's context terms for account migration (``alsoKnownAs``, ``movedTo``: ids, not strings).
ALIAS_CONTEXT = {
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
}


def field_value_html(value: str) -> str:
    """A profile field's value as Mastodon renders it: a link (``rel="me"``) when it is a URL, else text."""
    if value.startswith(("https://", "http://")) and not any(c.isspace() for c in value):
        href = html.escape(value, quote=True)
        shown = html.escape(value.split("://", 1)[1])
        return f'<a href="{href}" target="_blank" rel="nofollow noopener noreferrer me" translate="no">{shown}</a>'
    return html.escape(value)


def deleted_actor_to_as(actor: LocalActor, urls: Urls) -> JSON:
    """What a deleted account's id answers (with 410): a Tombstone (Mastodon answers 410 Gone)."""
    doc = ap.tombstone(id=urls.actor(actor.username), former_type=actor.actor_type, deleted=actor.deleted_at)
    doc["@context"] = ap.AS_CONTEXT
    return doc


def attachment_to_as(media: MediaAttachment, urls: Urls) -> JSON:
    doc: JSON = {"type": "Document" if not media.media_type.startswith("image/") else "Image"}
    doc["mediaType"] = media.media_type
    doc["url"] = media.remote_url or urls.media(media.storage_key or "")
    doc["name"] = media.description or None
    if media.width and media.height:
        doc["width"] = media.width
        doc["height"] = media.height
    if media.blurhash:
        doc["blurhash"] = media.blurhash
    if media.focus_x is not None and media.focus_y is not None:
        doc["focalPoint"] = [media.focus_x, media.focus_y]
    if media.thumbnail_key:
        doc["icon"] = {"type": "Image", "mediaType": "image/webp", "url": urls.media(media.thumbnail_key)}
    return doc


# Our own JSON-LD term for how an image was made; ``@json`` keeps the value as plain JSON.
GENERATION_CONTEXT = {
    "fediserver": "https://fediserver.invalid/ns#",
    "generation": {"@id": "fediserver:generation", "@type": "@json"},
    "Hashtag": "as:Hashtag",
}


def generation_to_as(job: GenerationJob) -> JSON:
    """Everything needed to reproduce the image (model, seed, steps, guidance, size, prompt)."""
    return {
        "model": job.model,
        "prompt": job.prompt,
        "negativePrompt": job.negative_prompt,
        "seed": job.seed,
        "steps": job.steps,
        "guidance": job.guidance,
        "width": job.width,
        "height": job.height,
        "scheduler": job.scheduler,
        "aiGenerated": True,
    }


def note_to_as(
    note: Note, urls: Urls, attachments: list[MediaAttachment], generation: GenerationJob | None = None
) -> JSON:
    """A local note; ``attachments`` (and the generation job, if any) are passed in: no lazy loading."""
    key = note.uri.rsplit("/", 1)[1]
    doc = ap.note(
        id=note.uri,
        attributed_to=note.attributed_to,
        content=note.content,
        published=note.published_at,
        to=note.to,
        cc=note.cc,
        url=note.url or note.uri,
        summary=note.summary,
        sensitive=note.sensitive,
        in_reply_to=note.in_reply_to_uri,
        attachment=[attachment_to_as(m, urls) for m in attachments],
        tag=note.tags or (),
    )
    if note.updated_at is not None:
        doc["updated"] = ap.iso8601(note.updated_at)
    doc["replies"] = urls.note_replies(key)
    if generation is not None:
        doc["@context"] = [*doc["@context"], GENERATION_CONTEXT]
        disclosure = {"type": "Hashtag", "name": "#AIGenerated", "href": urls.tag("AIGenerated")}
        if disclosure not in doc["tag"]:
            doc["tag"] = [*doc["tag"], disclosure]
        doc["generation"] = generation_to_as(generation)
    return doc


def create_for_note(note_doc: JSON, urls: Urls) -> JSON:
    """The Create wrapping a local note; id ``urls.note_activity``, same addressing (checklist 13)."""
    key = note_doc["id"].rsplit("/", 1)[1]
    activity = ap.create(id=urls.note_activity(key), actor=note_doc["attributedTo"], object=note_doc)
    activity["to"] = note_doc["to"]
    activity["cc"] = note_doc["cc"]
    activity["published"] = note_doc["published"]
    return activity


def tombstone_for(note: Note) -> JSON:
    return ap.tombstone(id=note.uri, former_type="Note", deleted=note.deleted_at)


def ordered_collection(collection_id: str, total: int, first: str | None) -> JSON:
    doc: JSON = {
        "@context": ap.AS_CONTEXT,
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if first is not None:
        doc["first"] = first
    return doc


def collection_page(page_id: str, part_of: str, items: list[Any], next_page: str | None) -> JSON:
    doc: JSON = {
        "@context": ap.AS_CONTEXT,
        "id": page_id,
        "type": "OrderedCollectionPage",
        "partOf": part_of,
        "orderedItems": items,
    }
    if next_page is not None:
        doc["next"] = next_page
    return doc


def html_page(title: str, alternate: str, body: str) -> str:
    """A minimal HTML page with the ``rel=alternate`` link fetchers follow (checklist 8)."""
    t = html.escape(title)
    a = html.escape(alternate, quote=True)
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{t}</title>"
        f'<link rel="alternate" type="application/activity+json" href="{a}">'
        f"</head><body>{body}</body></html>\n"
    )
