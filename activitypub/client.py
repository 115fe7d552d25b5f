"""A signing ActivityPub HTTP client on `httpx.AsyncClient` (federation.md §1.4, §2.3, §5).

Every request is signed at send time with the injected clock, so a retry carries a fresh Date.
Double-knocking: the first scheme is tried, the other one on 400/401, and the scheme that worked is
remembered per host (SWICG report; Mastodon PR #39756 tries cavage first because Misskey and Sharkey
answer RFC 9421 with a stripped actor instead of an error). Fetches accept only AS2 content types,
require the body's `id` to equal the final URL (else one refetch by `id`), cap bodies at 1 MB, follow
at most 3 redirects, and put every hop through the outbound guard.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .bounded import JsonLimits, MalformedDocument, loads_bounded
from .errors import FetchError, RemoteStatusError
from .guard import Guard
from .httpsig import sign_request
from .keys import PrivateKey
from .rfc9421 import sign_request_rfc9421
from .vocab import ACTIVITY_JSON, AS2_ACCEPT, is_as2_content_type
from .window import Clock

MAX_BODY_BYTES = 1_048_576  # Mastodon's body_with_limit default (1.megabyte)
# A fetched document is walked by whatever stores it: it gets the inbox's bounds (activitypub.bounded).
FETCH_LIMITS = JsonLimits()
MAX_REDIRECTS = 3
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
KNOCK_STATUSES = frozenset({400, 401})


class Scheme(enum.Enum):
    """HTTP signature schemes the client can send."""

    CAVAGE = "draft-cavage-12"
    RFC9421 = "rfc9421"

    @property
    def other(self) -> Scheme:
        """The scheme to knock with after this one is refused."""
        return Scheme.RFC9421 if self is Scheme.CAVAGE else Scheme.CAVAGE


@dataclass(frozen=True, slots=True)
class Signer:
    """The key requests are signed with: usually the instance actor for GETs, the author for POSTs."""

    key_id: str
    private_key: PrivateKey

    def sign(
        self,
        scheme: Scheme,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        clock: Clock,
    ) -> dict[str, str]:
        """Return `headers` plus the signature headers for `scheme`, dated `clock()`."""
        now = clock()
        if scheme is Scheme.CAVAGE:
            return sign_request(
                method=method, url=url, headers=headers, body=body, key_id=self.key_id,
                private_key=self.private_key, now=now,
            )  # fmt: skip
        return sign_request_rfc9421(
            method=method, url=url, headers=headers, body=body, key_id=self.key_id,
            private_key=self.private_key, now=now,
        )  # fmt: skip


async def read_capped(response: httpx.Response, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read a streamed response body, raising `FetchError` once it exceeds `limit` bytes."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise FetchError(f"{response.request.url} declares {declared} bytes, over the {limit}-byte cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise FetchError(f"{response.request.url} body exceeds the {limit}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


def _host_key(url: str) -> str:
    return urlsplit(url).netloc.lower()


@dataclass(slots=True)
class ActivityPubClient:
    """Signed, guarded fetch and delivery over an injected `httpx.AsyncClient`.

    `signer=None` sends unsigned requests. `first_scheme` is the scheme tried first for hosts not
    seen before.
    """

    http: httpx.AsyncClient
    clock: Clock
    guard: Guard
    signer: Signer | None = None
    first_scheme: Scheme = Scheme.CAVAGE
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    max_body: int = MAX_BODY_BYTES
    max_redirects: int = MAX_REDIRECTS
    _schemes: dict[str, Scheme] = field(default_factory=dict)

    def scheme_for(self, url: str) -> Scheme:
        """The scheme that will be tried first for `url`'s host."""
        return self._schemes.get(_host_key(url), self.first_scheme)

    async def _send_once(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[httpx.Response, bytes]:
        request = self.http.build_request(method, url, headers=headers, content=body, timeout=self.timeout)
        try:
            response = await self.http.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise FetchError(f"{method} {url} failed: {exc!r}") from exc
        try:
            content = await read_capped(response, self.max_body)
        except httpx.HTTPError as exc:
            raise FetchError(f"{method} {url} failed while reading the body: {exc!r}") from exc
        finally:
            await response.aclose()
        return response, content

    async def _knock(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[httpx.Response, bytes]:
        if self.signer is None:
            return await self._send_once(method, url, headers, body)
        first = self.scheme_for(url)
        for scheme in (first, first.other):
            signed = self.signer.sign(scheme, method, url, headers, body, self.clock)
            response, content = await self._send_once(method, url, signed, body)
            if response.status_code not in KNOCK_STATUSES:
                self._schemes[_host_key(url)] = scheme
                return response, content
        return response, content

    async def get(self, url: str, accept: str = AS2_ACCEPT) -> tuple[httpx.Response, bytes, str]:
        """Signed GET following at most `max_redirects` redirects, each one re-checked by the guard.

        Returns the final response, its body and the final URL; raises `RemoteStatusError` on a
        status other than 200.
        """
        for _hop in range(self.max_redirects + 1):
            await self.guard.check(url)
            response, content = await self._knock("GET", url, {"accept": accept}, None)
            if response.status_code in REDIRECT_STATUSES:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"redirect from {url} has no Location")
                url = urljoin(url, location)
                continue
            if response.status_code != 200:
                raise RemoteStatusError(
                    f"GET {url} answered {response.status_code}",
                    response.status_code,
                    response.headers.get("retry-after"),
                )
            return response, content, url
        raise FetchError(f"more than {self.max_redirects} redirects fetching {url}")

    async def _fetch_once(self, url: str) -> tuple[dict[str, Any], str]:
        response, content, final_url = await self.get(url)
        content_type = response.headers.get("content-type")
        if not is_as2_content_type(content_type):
            raise FetchError(f"{final_url} answered Content-Type {content_type!r}, not ActivityStreams")
        try:
            document = loads_bounded(content, FETCH_LIMITS)
        except MalformedDocument as exc:
            raise FetchError(f"{final_url} returned unusable JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise FetchError(f"{final_url} returned JSON that is not an object")
        return document, final_url

    async def fetch(self, url: str) -> dict[str, Any]:
        """Fetch an ActivityStreams document whose `id` equals the URL it was finally served from.

        On a mismatch the document is refetched once by its `id`, as Mastodon's `fetch_resource` does;
        a second mismatch raises `FetchError`.
        """
        document, final_url = await self._fetch_once(url)
        if document.get("id") == final_url:
            return document
        claimed = document.get("id")
        if not isinstance(claimed, str):
            raise FetchError(f"{final_url} returned a document without a string id")
        document, final_url = await self._fetch_once(claimed)
        if document.get("id") != final_url:
            raise FetchError(f"{final_url} returned a document whose id is {document.get('id')!r}")
        return document

    async def post(self, url: str, activity: Mapping[str, Any] | bytes) -> httpx.Response:
        """Deliver an activity (signed POST, no redirects); raises `RemoteStatusError` unless 2xx.

        Pass bytes to control serialisation: the digest covers exactly the bytes sent.
        """
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode("utf-8")
        await self.guard.check(url)
        headers = {"content-type": ACTIVITY_JSON, "accept": AS2_ACCEPT}
        response, _content = await self._knock("POST", url, headers, body)
        if not 200 <= response.status_code < 300:
            raise RemoteStatusError(
                f"POST {url} answered {response.status_code}",
                response.status_code,
                response.headers.get("retry-after"),
            )
        return response
