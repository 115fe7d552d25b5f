"""Remote actors: fetched, validated, cached in ``remote_actors``, and resolved from signature key ids."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import activitypub as ap
from fediserver.federation.connections import caching, release
from fediserver.federation.context import Federation
from fediserver.federation.convert import actor_to_model, find_key
from fediserver.models import LocalActor, RemoteActor

JSON = dict[str, Any]

# Signature key ids resolved from ``remote_actors`` are remembered per process for this long: the inbox
# looks the signer up on every request, and the row changes rarely. Whatever refreshes an actor here
# (``get_actor``/``actor_for_key`` with ``refresh``) forgets it at once; a failed verification with a
# remembered key takes the usual refetch path.
KEY_CACHE_TTL = 10.0
# An expired entry is still used, for at most this many seconds more, while one read of its row in the
# background renews it: under load a burst's keys expired together and each of their requests waited for
# the reads (the inbox's p99 after a pause, docs/benchmarks.md). The read's row replaces the entry; a row
# gone since (a deleted actor) drops it, and the next request looks the key up as if first seen.
KEY_CACHE_STALE = 30.0
KEY_CACHE_MAX = 10_000
log = logging.getLogger("fediserver.federation.remote")
_BY_KEY_IDS = select(RemoteActor).where(RemoteActor.key_id.in_(bindparam("key_ids", expanding=True)))
_BY_URI = select(RemoteActor).where(RemoteActor.uri == bindparam("uri"))


@dataclass(frozen=True)
class KeyOwner:
    """The owner of a signature key as a verified request needs it: a snapshot of its ``remote_actors`` row,
    tied to no session (every caller reads only these)."""

    uri: str
    public_key_pem: str | None

    @classmethod
    def of(cls, row: RemoteActor) -> KeyOwner:
        return cls(uri=row.uri, public_key_pem=row.public_key_pem)


def _remember(fed: Federation, key_id: str, owner: KeyOwner) -> None:
    cache = fed.key_cache
    if len(cache) >= KEY_CACHE_MAX:
        cache.clear()
    cache[key_id] = (time.monotonic() + KEY_CACHE_TTL, owner)


def _recall(fed: Federation, sessions: async_sessionmaker[AsyncSession], key_id: str) -> KeyOwner | None:
    """The remembered owner of ``key_id`` (immutable, so shared), or None; an expired one still in its
    ``KEY_CACHE_STALE`` window is returned and renewed in the background."""
    entry = fed.key_cache.get(key_id)
    if entry is None:
        return None
    expires, owner = entry
    now = time.monotonic()
    if now < expires:
        return owner
    if now >= expires + KEY_CACHE_STALE:
        return None
    fed.key_renewals.add(key_id)
    _start_reader(fed, sessions)
    return owner


async def _read_key(fed: Federation, sessions: async_sessionmaker[AsyncSession], key_id: str) -> KeyOwner | None:
    """The stored owner of ``key_id``, or None, read together with the other keys of the moment."""
    future = fed.key_reads.get(key_id)
    if future is None:
        future = fed.key_reads[key_id] = asyncio.get_running_loop().create_future()
    _start_reader(fed, sessions)
    # Shielded: a request that gives up must not cancel the read other requests share.
    return await asyncio.shield(future)


def _start_reader(fed: Federation, sessions: async_sessionmaker[AsyncSession]) -> None:
    if fed.key_reader is None or fed.key_reader.done():
        fed.key_reader = asyncio.create_task(_read_keys(fed, sessions), name="fediserver-key-reader")


async def _read_keys(fed: Federation, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Read the rows of every key waiting (``_recall``'s renewals, ``_read_key``'s first reads), in one query
    a round: the requests of one moment add theirs before it starts. A process that meets fifty new signers
    at once (its start, a burst after a quiet hour) then reads them in one statement, not through fifty
    pooled connections opened for it while the inbox's writer waited (docs/benchmarks.md)."""
    reads: dict[str, asyncio.Future[KeyOwner | None]] = {}
    try:
        await asyncio.sleep(0)
        while fed.key_renewals or fed.key_reads:
            renewals, fed.key_renewals = fed.key_renewals, set()
            reads, fed.key_reads = fed.key_reads, {}
            try:
                async with sessions() as session:
                    found = await session.scalars(_BY_KEY_IDS, {"key_ids": list(renewals | reads.keys())})
                    rows = {row.key_id: row for row in found}
            except Exception as exc:
                # Each waiting request meets the error; an expired entry's next request after the window
                # reads the key itself, and meets it there.
                for future in reads.values():
                    if not future.done():
                        future.set_exception(exc)
                if renewals:
                    log.warning(
                        "renewing remembered signature keys failed", exc_info=True, extra={"keys": len(renewals)}
                    )
                continue
            for key_id in renewals:
                row = rows.get(key_id)
                if row is None:
                    fed.key_cache.pop(key_id, None)
                elif key_id in fed.key_cache:  # not forgotten meanwhile (``forget_actor``, a refresh)
                    _remember(fed, key_id, KeyOwner.of(row))
            for key_id, future in reads.items():
                row = rows.get(key_id)
                owner = KeyOwner.of(row) if row is not None else None
                if owner is not None:
                    _remember(fed, key_id, owner)
                if not future.done():
                    future.set_result(owner)
    finally:
        # Ended before answering (cancelled at shutdown): no request waits for a read that will not come.
        waiting = [*reads.values(), *fed.key_reads.values()]
        fed.key_reads = {}
        for future in waiting:
            if not future.done():
                future.cancel()


def forget_actor(fed: Federation, uri: str) -> None:
    """Drop every remembered key of the actor ``uri`` (after it was refreshed or changed)."""
    cache = fed.key_cache
    for key_id in [k for k, (_, owner) in cache.items() if owner.uri == uri]:
        del cache[key_id]


async def _instance_signer(fed: Federation, session: AsyncSession) -> ap.Signer:
    actor = await session.scalar(select(LocalActor).where(LocalActor.actor_type == "Application"))
    if actor is None:
        raise RuntimeError("no instance actor: run `fediserver migrate`")
    return fed.signer_for(actor)


async def fetch_document(fed: Federation, session: AsyncSession, url: str) -> JSON:
    """A signed GET (as the instance actor, so authorized-fetch servers answer) of an AS2 document.

    The session's connection goes back to the pool for the round trip unless its transaction has written
    (``connections.release``): a use case fetches before it writes (issue 8)."""
    signer = await _instance_signer(fed, session)
    await release(session)
    return await fed.client(signer).fetch(url)


async def fetch_detached(fed: Federation, sessions: async_sessionmaker[AsyncSession], url: str) -> JSON:
    """``fetch_document`` holding no database connection during the request: the signer is read in a
    short session of its own."""
    async with sessions() as session:
        signer = await _instance_signer(fed, session)
    return await fed.client(signer).fetch(url)


async def store_actor(session: AsyncSession, doc: JSON) -> RemoteActor:
    row = await session.scalar(_BY_URI, {"uri": doc.get("id")})
    row = actor_to_model(doc, row)
    session.add(row)
    await session.flush()
    return row


async def get_actor(fed: Federation, session: AsyncSession, uri: str, *, refresh: bool = False) -> RemoteActor:
    """The cached actor, fetched when unknown or when ``refresh`` is asked (with no connection held, and
    stored as a cache: ``fetch_document``, ``connections.caching``)."""
    row = await session.scalar(_BY_URI, {"uri": uri})
    if row is not None and not refresh:
        return row
    forget_actor(fed, uri)
    doc = await fetch_document(fed, session, uri)
    if doc.get("id") != uri:
        raise ap.InvalidObject(f"{uri} is served with id {doc.get('id')!r}")
    async with caching(session):
        row = await store_actor(session, doc)
    return row


async def _store_detached(fed: Federation, sessions: async_sessionmaker[AsyncSession], doc: JSON) -> RemoteActor:
    """Store ``doc`` in a short session of its own; the row comes back loaded and detached."""
    for attempt in range(2):
        async with sessions() as session:
            try:
                row = await store_actor(session, doc)
                await session.commit()
            except IntegrityError:
                # Another request stored the same actor between our read and our insert: update theirs.
                await session.rollback()
                if attempt:
                    raise
                continue
            forget_actor(fed, row.uri)
            return row
    raise AssertionError("unreachable")


async def actor_for_key(
    fed: Federation, sessions: async_sessionmaker[AsyncSession], key_id: str, *, refresh: bool = False
) -> KeyOwner:
    """The actor that owns ``key_id``, with ownership checked both ways (federation.md §5).

    The key is either in the actor document (``{actor}#main-key``) or a document of its own that names
    its ``owner``; either way the actor must list exactly this key id, and the key id must share the
    actor's origin. A document served under another ``id`` confirms nothing.

    No database connection is held while fetching: each read or write takes a short session of its
    own, so a key host that answers slowly cannot drain the pool (issue 8, "slow-key denial of service").
    """
    if refresh:
        fed.key_cache.pop(key_id, None)
        return await _fetch_key_owner(fed, sessions, key_id)
    cached = _recall(fed, sessions, key_id)
    if cached is not None:
        return cached
    # Requests signed with one key arrive together: when it is not remembered (first seen, or its entry
    # expired), one of them reads (or fetches) it and the others wait for that.
    return await fed.key_lookups.run(key_id, functools.partial(_find_key_owner, fed, sessions, key_id))


async def _find_key_owner(fed: Federation, sessions: async_sessionmaker[AsyncSession], key_id: str) -> KeyOwner:
    known = await _read_key(fed, sessions, key_id)
    if known is not None:
        return known
    return await _fetch_key_owner(fed, sessions, key_id)


async def _fetch_key_owner(fed: Federation, sessions: async_sessionmaker[AsyncSession], key_id: str) -> KeyOwner:
    async with sessions() as session:
        client = fed.client(await _instance_signer(fed, session))
    requested = urldefrag(key_id).url
    doc = await client.fetch(requested)
    if ap.has_type(doc, *ap.ACTOR_TYPES):
        # The key is embedded in the actor (``{actor}#main-key``): its block is the key document.
        actor_doc, fetched_from = doc, requested
        key_doc = next((k for k in ap.as_list(doc.get("publicKey")) if ap.get_id(k) == key_id), None)
        if not isinstance(key_doc, dict):
            raise ap.SignatureError(f"{doc.get('id')} does not list the key {key_id}")
    else:
        key_doc = doc
        owner = ap.get_id(doc.get("owner")) or ap.get_id(doc.get("controller"))
        if owner is None:
            raise ap.SignatureError(f"key {key_id} names no owner")
        actor_doc, fetched_from = await client.fetch(owner), owner
    ap.check_key_ownership(key_id, key_doc, actor_doc, fetched_from)
    if find_key(actor_doc, key_id) is None:
        raise ap.SignatureError(f"{actor_doc.get('id')} has no usable PEM for the key {key_id}")
    fetched = KeyOwner.of(await _store_detached(fed, sessions, actor_doc))
    _remember(fed, key_id, fetched)
    return fetched
