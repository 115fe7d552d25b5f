"""Finding accounts and hashtags: local users and known remote actors by name, a remote account by
``@user@host`` (WebFinger, RFC 7033) or by its actor URL, and hashtags by prefix (Mastodon's
``SearchService`` with ``resolve=true``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain.services import Services
from fediserver.errors import AppError
from fediserver.federation import following
from fediserver.models import LocalActor, RemoteActor, Tag
from fediserver.text.entities import normalize_tag

MAX_RESULTS = 20


@dataclass(frozen=True)
class Found:
    """What a query found; ``lookup_error`` says why a handle or URL could not be resolved, if it could not."""

    local: list[LocalActor] = field(default_factory=list)
    remote: list[RemoteActor] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    lookup_error: str | None = None


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(text: str) -> str:
    return f"%{_escaped(text)}%"


async def _tags(session: AsyncSession, prefix: str, limit: int) -> list[Tag]:
    pattern = _escaped(normalize_tag(prefix)) + "%"
    rows = await session.scalars(select(Tag).where(Tag.name.like(pattern, escape="\\")).order_by(Tag.name).limit(limit))
    return list(rows)


async def search(svc: Services, session: AsyncSession, query: str, *, limit: int = MAX_RESULTS) -> Found:
    """Accounts and tags for ``query``. A handle with a host, or an http(s) URL, is looked up remotely
    (and cached as a ``RemoteActor``); the caller commits so the cached actor is kept."""
    q = query.strip()
    if not q:
        return Found()
    if q.startswith("#"):
        return Found(tags=await _tags(session, q[1:], limit))
    is_url = q.startswith(("https://", "http://"))
    handle = q.lstrip("@")
    remote: list[RemoteActor] = []
    error = None
    if is_url or ("@" in handle and not handle.endswith("@" + svc.urls.domain)):
        try:
            remote.append(await following.resolve_account(svc.fed, session, q if is_url else handle))
        except AppError as exc:
            error = exc.message
    if is_url:
        return Found(remote=remote, lookup_error=error)
    name = handle.split("@", 1)[0]
    pattern = _like(name)
    local = await session.scalars(
        select(LocalActor)
        .where(
            or_(
                LocalActor.username.ilike(pattern, escape="\\"),
                LocalActor.display_name.ilike(pattern, escape="\\"),
            ),
            LocalActor.actor_type != "Application",
            LocalActor.deleted_at.is_(None),
        )
        .order_by(LocalActor.username)
        .limit(limit)
    )
    known = await session.scalars(
        select(RemoteActor)
        .where(
            or_(
                RemoteActor.preferred_username.ilike(pattern, escape="\\"),
                RemoteActor.display_name.ilike(pattern, escape="\\"),
            )
        )
        .order_by(RemoteActor.id)
        .limit(limit)
    )
    seen = {r.uri for r in remote}
    remote += [r for r in known if r.uri not in seen]
    tags = await _tags(session, name, limit)
    return Found(local=list(local), remote=remote[:limit], tags=tags, lookup_error=error)
