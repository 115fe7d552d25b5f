"""An httpx transport that connects only to the addresses it has just vetted (federation.md §5).

`OutboundGuard.check` resolves a URL's host and refuses non-public addresses, but a plain httpx
transport resolves the name again when it connects: a name that answers a public address to the
check and a private one a moment later (DNS rebinding) would slip through. `PinnedTransport`
resolves once per connection, vets every address with the guard's rule (`vetted_addresses`) and
opens the TCP connection to one of exactly those addresses. The request keeps its URL, so the
`Host` header, TLS SNI and certificate verification are still for the host name.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable

import httpcore
import httpx

from .guard import Resolver, system_resolver, vetted_addresses

# httpcore's SOCKET_OPTION, which it does not export.
SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """A network backend whose `connect_tcp` resolves with `resolver` and connects to a vetted address.

    Raises `UnsafeURLError` (from `activitypub.errors`) for a host with any non-public address unless
    `allow_private`; unix sockets are refused.
    """

    def __init__(
        self,
        resolver: Resolver = system_resolver,
        *,
        allow_private: bool = False,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.resolver = resolver
        self.allow_private = allow_private
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await vetted_addresses(host, port, self.resolver, allow_private=self.allow_private)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from exc
        last: Exception | None = None
        # Each address in the order the resolver gave, as getaddrinfo-based connectors try them.
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None  # vetted_addresses never returns an empty list
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """`httpx.AsyncHTTPTransport` over a `PinnedBackend`; pass it as `httpx.AsyncClient(transport=...)`.

    A client with an explicit transport also ignores proxy environment variables, which would
    otherwise connect on our behalf to addresses nobody vetted.
    """

    def __init__(
        self,
        resolver: Resolver = system_resolver,
        *,
        allow_private: bool = False,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(verify=verify, limits=limits)
        # httpx builds its pool without a network_backend parameter; the pool is replaced with the
        # same settings and ours (tests/activitypub/test_transport.py fails if httpx stops using it).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(resolver, allow_private=allow_private),
        )
