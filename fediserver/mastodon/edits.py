"""Editing a status the Mastodon way (``PUT /api/v1/statuses/:id``, MD:/methods/statuses/#edit) over the
domain's ``edit_post``: ``media_ids`` replace the attachments when given, ``media_attributes[]`` change
alt text and focal points."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain import edit_media, posts
from fediserver.domain.services import Services
from fediserver.errors import InvalidInput
from fediserver.mastodon import lookup
from fediserver.mastodon.entities.instance import DESCRIPTION_LIMIT
from fediserver.mastodon.params import Params
from fediserver.models import LocalActor, MediaAttachment, Note


def _focus(value: Any) -> tuple[float, float] | None:
    if value in (None, ""):
        return None
    try:
        x, y = (float(v) for v in str(value).split(","))
    except ValueError:
        raise InvalidInput('Validation failed: focus must be two numbers, "x,y"') from None
    return x, y


def _attributes(params: Params) -> list[dict[str, Any]]:
    """``media_attributes`` as a JSON list of objects, or a form's ``media_attributes[][id]=…`` pairs."""
    found = [v for v in params.values.get("media_attributes", []) if isinstance(v, dict)]
    ids = params.many("media_attributes[][id]")
    descriptions = params.values.get("media_attributes[][description]", [])
    focuses = params.values.get("media_attributes[][focus]", [])
    for i, media_id in enumerate(ids):
        found.append(
            {
                "id": media_id,
                "description": descriptions[i] if i < len(descriptions) else None,
                "focus": focuses[i] if i < len(focuses) else None,
            }
        )
    return found


async def _media_change(session: AsyncSession, owner: LocalActor, raw: dict[str, Any]) -> edit_media.MediaChange:
    row = await lookup.media(session, str(raw.get("id", "")), owner)
    description = raw.get("description")
    if description is not None and len(str(description)) > DESCRIPTION_LIMIT:
        raise InvalidInput(f"Validation failed: description is longer than {DESCRIPTION_LIMIT} characters")
    return edit_media.MediaChange(
        media_id=row.id,
        description=str(description) if description is not None else None,
        focus=_focus(raw.get("focus")),
    )


async def edit_status(
    services: Services, session: AsyncSession, author: LocalActor, note: Note, params: Params
) -> Note:
    """Apply the edit through ``posts.edit_post`` (history kept, ``Update(Note)`` queued); the caller commits."""
    if params.values.get("poll"):
        raise InvalidInput("Validation failed: polls are not supported")
    media: tuple[MediaAttachment, ...] | None = None
    if "media_ids" in params.values:
        media = tuple([await lookup.media(session, mid, author) for mid in params.many("media_ids")])
    changes = tuple([await _media_change(session, author, raw) for raw in _attributes(params)])
    sensitive = params.flag("sensitive", default=note.sensitive)
    edit = posts.PostEdit(
        text=params.text("status") or "",
        summary=params.text("spoiler_text") or "",
        sensitive=sensitive,
        media=media,
        media_changes=changes,
    )
    return await posts.edit_post(services, session, author, note.uri, edit)
