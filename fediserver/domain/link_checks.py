"""rel=me verification of profile fields as a durable job: queued when a profile's fields change, run by
the worker (``LinkCheckHandler``), so saving a profile never waits on other sites (Mastodon's
``VerifyAccountLinksWorker``). Attempts, lease and back-off are the job queue's (``fediserver.jobs``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.domain.services import Services
from fediserver.federation.connections import release
from fediserver.federation.context import Federation
from fediserver.jobs.retry import Backoff
from fediserver.jobs.worker import PermanentJobError
from fediserver.models import LinkCheck, LocalActor, utcnow

# rel=me pages: Mastodon reads at most 1 MiB and follows a few redirects (``VerifyLinkService``).
MAX_PAGE_BYTES = 1 << 20
MAX_REDIRECTS = 3


class _RelMeLinks(HTMLParser):
    """``href`` of every ``<a>`` and ``<link>`` whose ``rel`` contains ``me``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("a", "link"):
            return
        values = dict(attrs)
        if "me" in (values.get("rel") or "").lower().split() and values.get("href"):
            self.hrefs.append(str(values["href"]))


async def _fetch_page(fed: Federation, url: str) -> str | None:
    """The page's HTML through the outbound guard (every redirect hop checked), or None."""
    for _ in range(MAX_REDIRECTS + 1):
        await fed.guard.check(url)
        async with fed.http.stream("GET", url, headers={"Accept": "text/html"}, follow_redirects=False) as resp:
            if resp.is_redirect and "location" in resp.headers:
                url = urljoin(url, resp.headers["location"])
                continue
            if resp.status_code != 200 or "html" not in resp.headers.get("content-type", ""):
                return None
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body.extend(chunk)
                if len(body) > MAX_PAGE_BYTES:
                    break
            return bytes(body[:MAX_PAGE_BYTES]).decode(resp.encoding or "utf-8", errors="replace")
    return None


async def links_back(fed: Federation, actor: LocalActor, url: str) -> bool:
    """Whether the page at ``url`` has a ``rel="me"`` link to this profile (Mastodon's ``VerifyLinkService``)."""
    try:
        page = await _fetch_page(fed, url)
    except (ap.ActivityPubError, httpx.HTTPError, UnicodeDecodeError, LookupError):
        # An unreachable, refused or undecodable page just leaves the link unverified.
        return False
    if page is None:
        return False
    parser = _RelMeLinks()
    parser.feed(page)
    ours = {fed.urls.profile(actor.username).lower(), fed.urls.actor(actor.username).lower()}
    return any(href.strip().lower() in ours for href in parser.hrefs)


async def verify_links(svc: Services, session: AsyncSession, actor: LocalActor) -> list[str]:
    """``verify_fields`` with the services the CLI holds."""
    return await verify_fields(svc.fed, session, actor)


async def verify_fields(fed: Federation, session: AsyncSession, actor: LocalActor) -> list[str]:
    """Check every field whose value is a link; set or clear its ``verified_at``. Returns the verified URLs.

    Mastodon marks a field verified when the linked page links back with ``rel="me"``; a field whose
    page no longer does loses the mark.
    """
    fields, verified = [], []
    # Nothing is written before the pages answer: no pooled connection waits on them (issue 8).
    await release(session)
    for field in actor.fields:
        value = str(field.get("value", ""))
        updated = dict(field)
        if value.startswith(("https://", "http://")) and await links_back(fed, actor, value):
            updated["verified_at"] = field.get("verified_at") or ap.iso8601(utcnow())
            verified.append(value)
        else:
            updated["verified_at"] = None
        fields.append(updated)
    if fields != actor.fields:
        actor.fields = fields
        await session.flush()
    return verified


def has_links(actor: LocalActor) -> bool:
    return any(str(f.get("value", "")).startswith(("https://", "http://")) for f in actor.fields)


async def queue_link_check(session: AsyncSession, actor: LocalActor) -> LinkCheck | None:
    """Queue a check of the actor's link fields (one waiting check per actor); None when there is
    nothing to check or a check is already waiting. The caller commits."""
    if not has_links(actor):
        return None
    waiting = await session.scalar(
        select(LinkCheck.id).where(LinkCheck.local_actor_id == actor.id, LinkCheck.state == "queued")
    )
    if waiting is not None:
        return None
    row = LinkCheck(local_actor_id=actor.id, state="queued", next_attempt_at=utcnow())
    session.add(row)
    await session.flush()
    return row


class LinkCheckHandler:
    """Runs ``LinkCheck`` jobs: fetch each linked page and mark the fields that link back."""

    name = "link_checks"
    model = LinkCheck
    backoff = Backoff(initial=timedelta(minutes=1), factor=2.0, cap=timedelta(hours=1))
    batch_size = 4
    concurrency = 2
    max_attempts = 3

    def __init__(self, fed: Federation) -> None:
        self.fed = fed

    def give_up_at(self, job: Any) -> datetime | None:
        return None

    async def handle(self, session: AsyncSession, job: Any) -> None:
        assert isinstance(job, LinkCheck)
        actor = await session.get(LocalActor, job.local_actor_id)
        if actor is None or actor.deleted_at is not None:
            raise PermanentJobError("the account no longer exists")
        await verify_fields(self.fed, session, actor)
        job.finished_at = utcnow()
