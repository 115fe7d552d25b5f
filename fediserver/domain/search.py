"""Finding accounts and hashtags: local users and known remote actors by name (``domain.directory``, the
lookup the Mastodon API uses), a remote account by
``@user@host`` (WebFinger, RFC 7033) or by its actor URL, and hashtags by prefix (Mastodon's
``SearchService`` with ``resolve=true``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.domain import directory
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


async def _actors(svc: Services, session: AsyncSession, uris: list[str]) -> tuple[list[LocalActor], list[RemoteActor]]:
    """The rows behind ``uris`` (local actor URLs, then cached remote actors), in the order given."""
    prefix = svc.urls.actor("")
    usernames = [unquote(u.removeprefix(prefix)) for u in uris if u.startswith(prefix)]
    others = [u for u in uris if not u.startswith(prefix)]
    local = {a.username: a for a in await session.scalars(select(LocalActor).where(LocalActor.username.in_(usernames)))}
    remote = {r.uri: r for r in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(others)))}
    return [local[n] for n in usernames if n in local], [remote[u] for u in others if u in remote]


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
    # The accounts /api/v1/accounts/search and /api/v2/search list (domain.directory), in its order.
    uris = await directory.search_accounts(svc, session, handle, limit=limit)
    local, known = await _actors(svc, session, uris)
    name = handle.split("@", 1)[0]
    seen = {r.uri for r in remote}
    remote += [r for r in known if r.uri not in seen]
    tags = await _tags(session, name, limit) if name else []
    return Found(local=local, remote=remote[:limit], tags=tags, lookup_error=error)
