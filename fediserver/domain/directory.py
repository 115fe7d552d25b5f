"""Finding accounts by name: local accounts by the start of their username or display name, then the
remote accounts already cached (Mastodon's ``AccountSearchService`` without its full-text index)."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain.services import Services
from fediserver.models import Follow, LocalActor, RemoteActor


def _prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


async def search_accounts(
    svc: Services, session: AsyncSession, q: str, *, limit: int, offset: int = 0, followed_by: str | None = None
) -> list[str]:
    """Actor URIs whose username or display name starts with ``q`` (``@`` and an ``@host`` part ignored),
    local first; ``followed_by`` keeps only the accounts that actor follows."""
    name, _, host = q.strip().lstrip("@").partition("@")
    if not name:
        return []
    pattern = _prefix(name)
    uris: list[str] = []
    if not host or host.lower() == svc.urls.domain:
        local = await session.scalars(
            select(LocalActor.username)
            .where(
                or_(
                    LocalActor.username.ilike(pattern, escape="\\"), LocalActor.display_name.ilike(pattern, escape="\\")
                ),
                LocalActor.actor_type != "Application",
                LocalActor.deleted_at.is_(None),
            )
            .order_by(LocalActor.username)
        )
        uris += [svc.urls.actor(u) for u in local]
    remote = select(RemoteActor.uri).where(
        or_(
            RemoteActor.preferred_username.ilike(pattern, escape="\\"),
            RemoteActor.display_name.ilike(pattern, escape="\\"),
        ),
        RemoteActor.deleted_at.is_(None),
    )
    if host and host.lower() != svc.urls.domain:
        # The cached domain is the actor id's host, which may lack the WebFinger host's port.
        remote = remote.where(RemoteActor.domain.in_({host.lower(), host.lower().split(":", 1)[0]}))
    uris += list(await session.scalars(remote.order_by(RemoteActor.preferred_username, RemoteActor.id)))
    if followed_by is not None:
        followed = set(
            await session.scalars(
                select(Follow.followed_uri).where(Follow.follower_uri == followed_by, Follow.state == "accepted")
            )
        )
        uris = [u for u in uris if u in followed]
    return uris[offset : offset + limit]
