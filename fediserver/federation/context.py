"""``Federation``: what federation code needs at run time, built once at start-up and passed down."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import activitypub as ap
from fediserver.config import Settings
from fediserver.models import DomainBlock, LocalActor
from fediserver.singleflight import SingleFlight
from fediserver.urls import Urls

if TYPE_CHECKING:
    from fediserver.federation.remote import KeyOwner

BLOCKLIST_TTL = 30.0


def domain_matches(host: str, blocked: str) -> bool:
    host = host.lower().rstrip(".")
    return host == blocked or host.endswith("." + blocked)


@dataclass
class DomainBlocklist:
    """Config blocks plus ``domain_blocks`` rows, re-read at most every ``BLOCKLIST_TTL`` seconds."""

    configured: tuple[str, ...]
    stored: frozenset[str] = frozenset()
    loaded_at: float = float("-inf")
    _reloads: SingleFlight[None, None] = field(default_factory=SingleFlight, repr=False, compare=False)

    @property
    def stale(self) -> bool:
        return time.monotonic() - self.loaded_at > BLOCKLIST_TTL

    async def refresh_if_stale(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Re-read the stored blocks if they are stale, in a session of its own; requests that find them
        stale together share one read (a session, even one that checks out no connection, costs every
        request: so none is opened while they are fresh)."""
        if self.stale:
            await self._reloads.run(None, functools.partial(self._reload, sessions))

    async def _reload(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with sessions() as session:
            await self.refresh(session)

    async def refresh(self, session: AsyncSession, *, force: bool = False) -> None:
        if force or self.stale:
            self.stored = frozenset((await session.scalars(select(DomainBlock.domain))).all())
            self.loaded_at = time.monotonic()

    def blocks_host(self, host: str | None) -> bool:
        if not host:
            return False
        return any(domain_matches(host, d) for d in (*self.configured, *self.stored))

    def blocks_url(self, url: str) -> bool:
        return self.blocks_host(urlsplit(url).hostname)


class BlockedDomainError(ap.UnsafeURLError):
    pass


@dataclass(frozen=True)
class BlockingGuard:
    """The library's SSRF guard, plus our domain blocklist, for every outbound request."""

    inner: ap.OutboundGuard
    blocklist: DomainBlocklist

    async def check(self, url: str) -> None:
        if self.blocklist.blocks_url(url):
            raise BlockedDomainError(f"{urlsplit(url).hostname} is a blocked domain")
        await self.inner.check(url)


@dataclass
class Federation:
    settings: Settings
    urls: Urls
    http: httpx.AsyncClient
    clock: ap.Clock = ap.system_clock
    blocklist: DomainBlocklist = field(init=False)
    guard: BlockingGuard = field(init=False)
    _signers: dict[int, ap.Signer] = field(default_factory=dict)
    refetch_limiter: ap.RefetchLimiter = field(init=False)
    # Signers by key id, for ``federation.remote`` (key id -> (expiry, owner)), and the look-ups of those not
    # remembered, shared by the requests that miss together.
    key_cache: dict[str, tuple[float, KeyOwner]] = field(default_factory=dict)
    key_lookups: SingleFlight[str, KeyOwner] = field(default_factory=SingleFlight)
    # Keys waiting for the next read of their rows, and the task reading them (``federation.remote._read_keys``):
    # expired entries still in use (``KEY_CACHE_STALE``), and keys not remembered, each with its requests' future.
    key_renewals: set[str] = field(default_factory=set)
    key_reads: dict[str, asyncio.Future[KeyOwner | None]] = field(default_factory=dict)
    key_reader: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.blocklist = DomainBlocklist(self.settings.federation.blocked_domains)
        inner = ap.OutboundGuard(allow_private=self.settings.federation.allow_private_addresses)
        self.guard = BlockingGuard(inner, self.blocklist)
        self.refetch_limiter = ap.RefetchLimiter(clock=self.clock)

    def signer_for(self, actor: LocalActor) -> ap.Signer:
        """The actor's signer; the PEM is parsed once per process."""
        signer = self._signers.get(actor.id)
        if signer is None:
            key_id = (
                self.urls.instance_actor_key()
                if actor.actor_type == "Application"
                else self.urls.actor_key(actor.username)
            )
            signer = ap.Signer(key_id=key_id, private_key=ap.load_private_key(actor.private_key_pem))
            self._signers[actor.id] = signer
        return signer

    @property
    def webfinger_scheme(self) -> str:
        """https, or http for local development (``instance.scheme = "http"`` with private addresses allowed),
        so instances on loopback and the Fedify test peer can resolve each other's handles."""
        dev = self.settings.instance.scheme == "http" and self.settings.federation.allow_private_addresses
        return "http" if dev else "https"

    def client(self, signer: ap.Signer | None) -> ap.ActivityPubClient:
        # The guard is duck-typed: ActivityPubClient only calls ``check``.
        return ap.ActivityPubClient(http=self.http, clock=self.clock, guard=self.guard, signer=signer)
