"""Inbound HTTP signature verification: RFC 9421 when ``Signature-Input`` is present, else draft-cavage-12."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import activitypub as ap
from fediserver.federation.context import Federation
from fediserver.federation.remote import KeyOwner, actor_for_key


class BlockedSender(Exception):
    """The signer's domain is blocked (403)."""


@dataclass(frozen=True)
class SignedRequest:
    method: str
    url: str  # the full URL as the sender addressed it: our scheme and domain, path and query
    headers: Mapping[str, str]
    body: bytes | None

    @property
    def target(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True)
class Verified:
    actor: KeyOwner
    key_id: str
    scheme: str


def _verifier(request: SignedRequest, now_fn: ap.Clock) -> tuple[str, str, Callable[[ap.PublicKey], None]]:
    lowered = {k.lower(): v for k, v in request.headers.items()}
    if "signature-input" in lowered:
        sig9421 = ap.request_signature(lowered)
        key_id = sig9421.key_id
        if key_id is None:
            raise ap.SignatureError("signature has no keyid parameter")

        def verify_9421(key: ap.PublicKey) -> None:
            ap.verify_request_rfc9421(
                method=request.method, url=request.url, headers=lowered, body=request.body,
                public_key=key, now=now_fn(), signature=sig9421,
            )  # fmt: skip

        return key_id, "rfc9421", verify_9421
    if "signature" in lowered:
        sig = ap.parse_signature_header(lowered["signature"])

        def verify_cavage(key: ap.PublicKey) -> None:
            ap.verify_request(
                method=request.method, target=request.target, headers=lowered, body=request.body,
                public_key=key, now=now_fn(), signature=sig,
            )  # fmt: skip

        return sig.key_id, "draft-cavage-12", verify_cavage
    raise ap.SignatureError("request is not signed (no Signature or Signature-Input header)")


async def verify_signed_request(
    fed: Federation, sessions: async_sessionmaker[AsyncSession], request: SignedRequest
) -> Verified:
    """Verify the request's signature and return the remote actor that made it.

    The key's owner is resolved from cache or fetched; when a cached key fails, the owner is fetched
    again once (key rotation) if the per-host refetch budget allows. Raises ``ap.SignatureError`` (or
    ``ap.FetchError`` when the key cannot be fetched, ``ap.InvalidObject`` for a key id that is not a
    URL we could store) with the reason, ``BlockedSender`` for a blocked domain. Takes a session
    factory, not a session: no connection is held while a key is fetched (``remote.actor_for_key``).
    """
    key_id, scheme, verify = _verifier(request, fed.clock)
    ap.check_url(key_id, "keyId")
    host = urlsplit(key_id).hostname
    await fed.blocklist.refresh_if_stale(sessions)
    if fed.blocklist.blocks_host(host):
        raise BlockedSender(f"{host} is blocked")
    actor = await actor_for_key(fed, sessions, key_id)
    owners: list[KeyOwner] = [actor]

    async def refetch(kid: str) -> ap.PublicKey:
        owners.append(await actor_for_key(fed, sessions, kid, refresh=True))
        return _key_of(owners[-1])

    cached = _key_of(actor) if actor.public_key_pem else None
    # Only a signature that fails with the cached key is worth a re-fetch (key rotation); digest and
    # time-window failures are not key problems (activitypub.verify_with_refetch).
    await ap.verify_with_refetch(key_id, cached, verify, refetch, fed.refetch_limiter)
    return Verified(actor=owners[-1], key_id=key_id, scheme=scheme)


def _key_of(actor: KeyOwner) -> ap.PublicKey:
    if actor.public_key_pem is None:
        raise ap.SignatureError(f"{actor.uri} publishes no usable key")
    return _load_key(actor.public_key_pem)


@functools.lru_cache(maxsize=4096)
def _load_key(pem: str) -> ap.PublicKey:
    """Parsed once per PEM: the inbox verifies every request with one of a few keys (keys are immutable)."""
    return ap.load_public_key(pem)
