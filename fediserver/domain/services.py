"""``Services``: what every use case needs at run time, built once by each process and passed down."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fediserver.config import Settings
from fediserver.federation.context import Federation
from fediserver.media import LocalMediaStore
from fediserver.urls import Urls


@dataclass(frozen=True)
class Services:
    """The federation context (settings, URLs, HTTP client, signers, blocklist) and the media store."""

    fed: Federation
    store: LocalMediaStore

    @property
    def settings(self) -> Settings:
        return self.fed.settings

    @property
    def urls(self) -> Urls:
        return self.fed.urls

    @classmethod
    def build(cls, fed: Federation) -> Services:
        return cls(fed=fed, store=LocalMediaStore(fed.settings.media_dir))


@contextlib.asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Services for a short-lived process (a CLI command): its own HTTP client, closed on exit."""
    from fediserver.app import build_http_client

    async with build_http_client(settings) as http:
        yield Services.build(Federation(settings=settings, urls=Urls.from_settings(settings), http=http))
