"""The outbound guard refuses non-public addresses after resolution; the resolver is injected."""

from __future__ import annotations

import pytest

from activitypub.errors import FetchError, UnsafeURLError
from activitypub.guard import OutboundGuard, is_public_address


def resolver_for(table: dict[str, list[str]]) -> OutboundGuard:
    async def resolve(host: str, port: int) -> list[str]:
        return table.get(host, [])

    return OutboundGuard(resolver=resolve)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
        "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "::1", "::", "fc00::1",
        "fe80::1", "ff02::1", "ff0e::1", "64:ff9b::a00:1", "2001:db8::1", "2002:7f00:1::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:8.8.8.8", "not-an-ip",
    ],
)  # fmt: skip
def test_is_public_address__refuses_non_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2001:4860:4860::8888"])
def test_is_public_address__accepts_public(address: str) -> None:
    assert is_public_address(address)


async def test_check__public_host_passes() -> None:
    await resolver_for({"social.example": ["93.184.216.34"]}).check("https://social.example/users/a")


async def test_check__any_private_address_refuses() -> None:
    guard = resolver_for({"rebind.example": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(UnsafeURLError, match=r"non-public address 127\.0\.0\.1"):
        await guard.check("https://rebind.example/")


async def test_check__ip_literals_checked_without_resolving() -> None:
    guard = resolver_for({})
    with pytest.raises(UnsafeURLError):
        await guard.check("http://[::ffff:127.0.0.1]:8080/")
    with pytest.raises(UnsafeURLError):
        await guard.check("http://169.254.169.254/latest/meta-data")
    await guard.check("https://8.8.8.8/")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/plain,x", "ftp://a.example/", "gopher://a/"])
async def test_check__only_http_and_https(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="only http and https"):
        await OutboundGuard(allow_private=True).check(url)


async def test_check__allow_private_lifts_address_check_only() -> None:
    guard = OutboundGuard(resolver=resolver_for({"localhost": ["127.0.0.1"]}).resolver, allow_private=True)
    await guard.check("http://localhost:8000/actor")


async def test_check__unresolvable_host_is_a_fetch_error() -> None:
    with pytest.raises(FetchError, match="no address"):
        await resolver_for({}).check("https://nowhere.example/")
