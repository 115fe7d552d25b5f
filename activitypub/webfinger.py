"""WebFinger (RFC 7033) as Mastodon uses it (spec/webfinger; `app/lib/webfinger.rb`).

A JRD has one `rel=self` link of an AS2 type whose `href` is the actor id. Lookups follow at most 3
HTTP redirects (each through the guard) and allow one hop when the `subject` names another canonical
account, as `fetch_remote_actor_service.rb` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from .client import DEFAULT_TIMEOUT, MAX_BODY_BYTES, MAX_REDIRECTS, REDIRECT_STATUSES, read_capped
from .errors import FetchError, WebFingerError
from .guard import Guard
from .vocab import ACTIVITY_JSON, LD_JSON_AS2

WEBFINGER_ACCEPT = "application/jrd+json, application/json"
PROFILE_PAGE_REL = "http://webfinger.net/rel/profile-page"
SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe"
_AS2_LINK_TYPES = frozenset({ACTIVITY_JSON, LD_JSON_AS2, "application/ld+json"})


@dataclass(frozen=True, slots=True)
class Acct:
    """An `acct:` account (RFC 7565): user and host, compared case-insensitively."""

    user: str
    host: str

    def __str__(self) -> str:
        return f"{self.user}@{self.host}"

    @property
    def uri(self) -> str:
        """`acct:user@host`."""
        return f"acct:{self.user}@{self.host}"

    def same_as(self, other: Acct) -> bool:
        """Case-insensitive equality, as Mastodon compares WebFinger subjects."""
        return self.user.lower() == other.user.lower() and self.host.lower() == other.host.lower()


def parse_acct(value: str) -> Acct:
    """Parse `acct:user@host`, `@user@host` or `user@host`; raises `WebFingerError`."""
    text = value.strip()
    if text.lower().startswith("acct:"):
        text = text[5:]
    text = text.removeprefix("@")
    user, sep, host = text.rpartition("@")
    if not sep or not user or not host or "@" in user or "/" in host or " " in text:
        raise WebFingerError(f"not an acct: {value!r}")
    return Acct(user, host.lower())


def format_acct(acct: Acct) -> str:
    """The `acct:` URI form used as the WebFinger `resource` and `subject`."""
    return acct.uri


def build_jrd(
    acct: Acct, actor_id: str, *, profile_url: str | None = None, aliases: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A JRD Mastodon accepts: `subject`, optional `aliases`, exactly one `self` link (checklist 1)."""
    links: list[dict[str, Any]] = [{"rel": "self", "type": ACTIVITY_JSON, "href": actor_id}]
    if profile_url:
        links.insert(0, {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile_url})
    jrd: dict[str, Any] = {"subject": acct.uri}
    if aliases:
        jrd["aliases"] = list(aliases)
    jrd["links"] = links
    return jrd


def self_link(jrd: Any) -> str:
    """The `href` of the JRD's single AS2 `self` link; raises `WebFingerError` if absent or ambiguous."""
    if not isinstance(jrd, dict) or not isinstance(jrd.get("links"), list):
        raise WebFingerError("JRD has no links")
    hrefs: list[str] = [
        link["href"]
        for link in jrd["links"]
        if isinstance(link, dict)
        and link.get("rel") == "self"
        and link.get("type") in _AS2_LINK_TYPES
        and isinstance(link.get("href"), str)
    ]
    if len(hrefs) != 1:
        raise WebFingerError(f"JRD has {len(hrefs)} ActivityStreams self links, expected one")
    return hrefs[0]


@dataclass(frozen=True, slots=True)
class WebFingerResult:
    """A resolved account: the canonical subject and the actor id it links to."""

    subject: Acct
    actor_id: str


async def _get(http: httpx.AsyncClient, url: str, guard: Guard) -> tuple[httpx.Response, bytes]:
    for _hop in range(MAX_REDIRECTS + 1):
        await guard.check(url)
        request = http.build_request("GET", url, headers={"accept": WEBFINGER_ACCEPT}, timeout=DEFAULT_TIMEOUT)
        try:
            response = await http.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise FetchError(f"WebFinger {url} failed: {exc!r}") from exc
        try:
            content = await read_capped(response, MAX_BODY_BYTES)
        finally:
            await response.aclose()
        location = response.headers.get("location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            return response, content
        url = urljoin(url, location)
    raise WebFingerError(f"more than {MAX_REDIRECTS} redirects for {url}")


async def _query(http: httpx.AsyncClient, acct: Acct, guard: Guard, scheme: str) -> dict[str, Any]:
    url = f"{scheme}://{acct.host}/.well-known/webfinger?resource={quote(acct.uri, safe=':@')}"
    response, content = await _get(http, url, guard)
    if response.status_code == 410:
        raise WebFingerError(f"{acct} is gone (410)")
    if response.status_code != 200:
        raise WebFingerError(f"WebFinger for {acct} answered {response.status_code}")
    try:
        jrd = json.loads(content)
    except ValueError as exc:
        raise WebFingerError(f"WebFinger for {acct} returned invalid JSON") from exc
    if not isinstance(jrd, dict) or not isinstance(jrd.get("subject"), str):
        raise WebFingerError(f"WebFinger for {acct} has no subject")
    return jrd


async def lookup(
    http: httpx.AsyncClient, account: Acct | str, *, guard: Guard, scheme: str = "https"
) -> WebFingerResult:
    """Resolve an account to its actor id, allowing one subject hop (`fetch_remote_actor_service.rb`).

    If the JRD's `subject` names another account, that account is queried once; a second
    different subject raises `WebFingerError` ("Too many webfinger redirects"). RFC 7033 §4 requires
    https; `scheme="http"` exists only for instances developed on loopback.
    """
    if scheme not in ("https", "http"):
        raise WebFingerError(f"WebFinger scheme must be https or http, not {scheme!r}")
    acct = parse_acct(account) if isinstance(account, str) else account
    jrd = await _query(http, acct, guard, scheme)
    subject = parse_acct(jrd["subject"])
    if not subject.same_as(acct):
        jrd = await _query(http, subject, guard, scheme)
        second = parse_acct(jrd["subject"])
        if not second.same_as(subject):
            raise WebFingerError(f"Too many webfinger redirects for {acct}")
    return WebFingerResult(subject, self_link(jrd))
