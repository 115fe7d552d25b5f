"""FEP-d8c2 client ids: a client that has not registered uses the URL of its client document as ``client_id``.

The document is an AS2 ``Application`` or ``Service`` whose ``id`` is that URL and which lists its
``redirectURI`` (context ``https://purl.archive.org/socialweb/oauth``). It is fetched unsigned through
the federation's outbound guard (no private addresses unless configured, size and time caps: c2s.md §3
names ``client_id`` an SSRF vector) on every authorization request, so a changed document takes effect
at once, and the ``redirect_uri`` asked for must be one it lists (the open-redirect check). Such a client
is public: it has no secret (one sent is ignored, as the FEP says) and must use PKCE ``S256``. Its row in
``oauth_applications`` carries the URL in ``client_url`` and may ask for any top-level scope (not admin).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.federation.context import Federation
from fediserver.models import OAuthApplication
from fediserver.oauth.grants import OAuthError, digest, new_secret
from fediserver.oauth.scopes import TOP_LEVEL

CLIENT_TYPES = ("Application", "Service")


def is_client_url(client_id: str) -> bool:
    """A ``client_id`` that names a client document rather than a registered app."""
    return client_id.startswith(("https://", "http://")) and len(client_id) <= 2048


def redirect_uris(doc: dict[str, Any]) -> list[str]:
    """The document's ``redirectURI`` values (a string, a list, or objects with ids)."""
    return [uri for uri in ap.get_ids(doc.get("redirectURI")) if isinstance(uri, str)]


async def fetch_client(fed: Federation, client_id: str) -> dict[str, Any]:
    """The client document at ``client_id``, checked: its id is the URL, its type a client type."""
    try:
        doc = await fed.client(None).fetch(client_id)
    except ap.ActivityPubError as exc:
        raise OAuthError(400, "invalid_client", f"The client document {client_id} cannot be fetched: {exc}") from None
    if doc.get("id") != client_id:
        raise OAuthError(400, "invalid_client", "The client document's id must equal the client_id.")
    if not ap.has_type(doc, *CLIENT_TYPES):
        raise OAuthError(400, "invalid_client", "The client document must be an Application or a Service.")
    if not redirect_uris(doc):
        raise OAuthError(400, "invalid_client", "The client document lists no redirectURI.")
    return doc


async def find_by_url(session: AsyncSession, client_id: str) -> OAuthApplication | None:
    app: OAuthApplication | None = await session.scalar(
        select(OAuthApplication).where(OAuthApplication.client_url == client_id)
    )
    return app


async def resolve_client(fed: Federation, session: AsyncSession, client_id: str) -> OAuthApplication:
    """The application row for the client document at ``client_id``, made or refreshed from it; caller commits."""
    doc = await fetch_client(fed, client_id)
    name = doc.get("name") if isinstance(doc.get("name"), str) else None
    app = await find_by_url(session, client_id)
    if app is None:
        app = OAuthApplication(
            client_url=client_id,
            client_id=secrets.token_urlsafe(32),
            # Never revealed: a document client is public and authenticates with PKCE only.
            client_secret_hash=digest(new_secret()),
            scopes=" ".join(TOP_LEVEL),
            name="",
            redirect_uris="",
        )
        session.add(app)
    app.name = (name or client_id)[:200]
    app.website = ap.get_id(doc.get("url")) or None
    app.redirect_uris = "\n".join(redirect_uris(doc))
    await session.flush()
    return app
