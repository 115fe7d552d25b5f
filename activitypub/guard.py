"""Outbound request guard against SSRF (federation.md §5; Mastodon `lib/private_address_check.rb`).

Only http and https; the host is resolved and *every* address must be public, IPv4-mapped IPv6
forms included. Checked before each request and again on each redirect hop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from .errors import FetchError, UnsafeURLError

Resolver = Callable[[str, int], Awaitable[list[str]]]

# federation.md §5's list; `is_global` already covers most, these are named so the rule is explicit
# and so ranges Python deems global (64:ff9b::/96, 2002::/16) are still refused.
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
        "::1/128", "::/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96", "64:ff9b:1::/48",
        "100::/64", "2001::/32", "2001:db8::/32", "2002::/16",
    )
)  # fmt: skip


def is_public_address(address: str) -> bool:
    """True when `address` is a globally routable unicast address outside every blocked range.

    IPv4-mapped IPv6 addresses (`::ffff:0:0/96`) are never public here.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # A public AAAA record never needs ::ffff:a.b.c.d; refusing all mapped forms closes the
        # loopback/private bypass without per-range reasoning (Fedify CVE-2024-39687 class).
        return False
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback:
        return False
    return not any(ip.version == net.version and ip in net for net in BLOCKED_NETWORKS)


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the event loop's `getaddrinfo`; raises `FetchError` when the name does not resolve."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"cannot resolve {host!r}: {exc}") from exc
    return [str(info[4][0]) for info in infos]


class Guard(Protocol):
    """Anything that vets a URL before it is fetched; `OutboundGuard` is the standard one.

    Callers add their own policy (a domain blocklist, say) by wrapping it.
    """

    async def check(self, url: str) -> None: ...


@dataclass(frozen=True, slots=True)
class OutboundGuard:
    """Decides whether a URL may be fetched.

    `allow_private` lifts the address check (local development and tests only); the scheme check
    always applies. Inject `resolver` in tests so no DNS is needed.
    """

    resolver: Resolver = system_resolver
    allow_private: bool = False

    async def check(self, url: str) -> None:
        """Raise `UnsafeURLError` unless `url` is http(s) and every resolved address is public."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UnsafeURLError(f"refusing scheme {parts.scheme!r} in {url!r}: only http and https")
        host = parts.hostname
        if not host:
            raise UnsafeURLError(f"URL has no host: {url!r}")
        if self.allow_private:
            return
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise UnsafeURLError(f"bad port in {url!r}") from exc
        await vetted_addresses(host, port, self.resolver, what=url)


async def vetted_addresses(
    host: str, port: int, resolver: Resolver, *, allow_private: bool = False, what: str | None = None
) -> list[str]:
    """Resolve `host` (an IP literal is its own address) and return its addresses, all of them public.

    Raises `UnsafeURLError` if any address is not public (unless `allow_private`), `FetchError` if
    there is none. The one rule for the guard's check and for `PinnedTransport`'s connections.
    """
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        addresses = await resolver(host, port)
    if not addresses:
        raise FetchError(f"{host!r} resolved to no address")
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise UnsafeURLError(f"refusing {what or host!r}: {host} resolves to non-public address {address}")
    return addresses
