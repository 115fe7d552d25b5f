"""Inbox and shared inbox: cap, verify, parse, check origins, persist, 202 (checklist 17, 18, 29–31, 39).

The body is parsed once, after the signature, into an ``ap.Envelope`` (bounded depth and sizes,
typed references): what is stored and handed to the workers is that checked document. Every refusal
is a 4xx with its reason.

Everything else happens in the worker (``federation.inbound``). A signature we could not verify never
gets 202.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import State
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

import activitypub as ap
from fediserver.db import write_gate
from fediserver.federation.context import Federation
from fediserver.federation.origins import OriginError, check_activity
from fediserver.federation.verify import BlockedSender, SignedRequest, verify_signed_request
from fediserver.jobs import doorbell
from fediserver.jobs.worker import Worker
from fediserver.models import InboundActivity, LocalActor
from fediserver.routes.responses import BodyTooLarge, error, read_body, signed_url
from fediserver.singleflight import SingleFlight

log = logging.getLogger("fediserver.inbox")
ACCEPTED = frozenset({"application/activity+json", "application/ld+json", "application/json"})
ENVELOPE_LIMITS = ap.EnvelopeLimits()
RECIPIENT_TTL = 60.0
RECIPIENTS_MAX = 10_000
# Immutable and without a body: one instance answers every accepted request.
ACCEPTED_RESPONSE = Response(status_code=202)


async def _receive(
    scope: Scope, receive: Receive, recipient_username: str | None, worker: Worker | None
) -> Response | None:
    """The inbox's answer, or None when the sender went away before its body arrived (nobody to answer)."""
    state = scope["app"].state
    fed: Federation = state.federation
    sessions: async_sessionmaker[AsyncSession] = state.sessions
    # ASGI header names are lower-case (ASGI spec, HTTP connection scope); a repeated header keeps its
    # last value, as dict(starlette.Headers) did.
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    limit = fed.settings.server.max_request_bytes
    try:
        body = await read_body(receive, headers.get("content-length"), limit)
    except BodyTooLarge:
        return error(413, f"body larger than {limit} bytes")
    except ClientDisconnect:
        return None
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED:
        return error(415, "Content-Type must be application/activity+json or application/ld+json")
    url = signed_url(fed, scope)
    # The signature first: who does not sign learns nothing, not even whether a user exists.
    try:
        verified = await verify_signed_request(fed, sessions, SignedRequest("POST", url, headers, body))
    except BlockedSender as exc:
        return error(403, str(exc))
    except ap.RemoteStatusError as exc:
        if exc.status in (404, 410) and _is_self_delete(body):
            # The actor is gone and we never knew its key: nothing to delete (checklist 40).
            return ACCEPTED_RESPONSE
        return error(401, f"signature: cannot fetch the signing key: {exc}")
    except ap.ActivityPubError as exc:
        return error(401, f"signature: {exc}")
    recipient_id = None
    if recipient_username is not None:
        recipient_id = await _recipients(state).id_of(sessions, recipient_username)
        if recipient_id is None:
            return error(404, f"no user {recipient_username}")
    try:
        envelope = ap.parse_activity(body, ENVELOPE_LIMITS)
        check_activity(envelope.document, verified.actor.uri)
    except OriginError as exc:
        return error(exc.status, str(exc))
    except ap.InvalidObject as exc:
        return error(400, str(exc))
    values: dict[str, Any] = {
        "activity_id": envelope.id,
        "activity_type": envelope.type[:64],
        "actor_uri": verified.actor.uri,
        "key_id": verified.key_id,
        "recipient_actor_id": recipient_id,
        "body": envelope.document,
        "state": "queued",
        "next_attempt_at": fed.clock(),
    }
    # Already received rows are skipped by the INSERT: accepted once is enough (a retry, or a second
    # shared-inbox copy).
    await _writer(state).insert(values)
    if worker is not None:
        worker.wake()
    return ACCEPTED_RESPONSE


class Recipients:
    """Local usernames to actor ids for the personal inboxes, so that a busy inbox does not query per request.

    Only users found are remembered, for ``RECIPIENT_TTL`` seconds; an unknown name is looked up each
    time, which only a sender with a valid signature can ask for. Requests that miss together share one
    look-up (``SingleFlight``).
    """

    def __init__(self) -> None:
        self.known: dict[str, tuple[float, int]] = {}
        self.lookups: SingleFlight[str, int | None] = SingleFlight()

    async def id_of(self, sessions: async_sessionmaker[AsyncSession], username: str) -> int | None:
        entry = self.known.get(username)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return await self.lookups.run(username, functools.partial(self._lookup, sessions, username))

    async def _lookup(self, sessions: async_sessionmaker[AsyncSession], username: str) -> int | None:
        async with sessions() as session:
            actor_id = await session.scalar(
                select(LocalActor.id).where(LocalActor.username == username, LocalActor.actor_type != "Application")
            )
        if actor_id is not None:
            if len(self.known) >= RECIPIENTS_MAX:
                self.known.clear()
            self.known[username] = (time.monotonic() + RECIPIENT_TTL, actor_id)
        return actor_id


def _recipients(state: State) -> Recipients:
    recipients: Recipients | None = getattr(state, "inbox_recipients", None)
    if recipients is None:
        recipients = state.inbox_recipients = Recipients()
    return recipients


class InboxWriter:
    """Group commit: rows accepted while a commit is in flight share the next, in one multi-row INSERT.

    Each request still gets its 202 only once its row is committed. On SQLite, which has a single writer,
    one transaction per request made concurrent requests collide on the database lock (each on its own
    pooled connection) and back off in the busy handler's sleeps; on PostgreSQL each paid a pooled
    connection, BEGIN, INSERT and COMMIT (a WAL flush) of its own, which held the shared inbox to a third of
    what SQLite accepted (docs/benchmarks.md). One writer task inserting everything queued in one
    transaction does neither. A duplicate ``activity_id`` is skipped (``ON CONFLICT DO NOTHING``): accepted
    once is enough. If a batch fails, its rows are retried one by one so that each request gets its own
    outcome.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self.sessions = sessions
        table: Any = InboundActivity.__table__
        insert = sqlite_insert(table) if dialect == "sqlite" else postgresql_insert(table)
        # On the table, not the model: the ORM's bulk INSERT path builds objects it would not use.
        self.statement = insert.on_conflict_do_nothing(index_elements=["activity_id"])
        self.pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self.task: asyncio.Task[None] | None = None

    async def insert(self, values: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((values, future))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain(), name="fediserver-inbox-writer")
        await future

    async def _write(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        gate = write_gate(session)
        # Taking turns with the in-process worker's batches, which end early when a turn is wanted.
        async with gate.turn() if gate is not None else contextlib.nullcontext():
            try:
                await session.execute(self.statement, rows)
                await doorbell.ring(session, doorbell.INBOX)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def _drain(self) -> None:
        # One session (one pooled connection) for as long as rows keep coming: under load, checking out a
        # connection per batch would queue the writer behind every request waiting for the pool. The outer
        # loop looks again after the session is closed (an await): a row queued meanwhile saw this task
        # still running and did not start another. Nothing is awaited between the last look and the end.
        while self.pending:
            async with self.sessions() as session:
                while self.pending:
                    batch, self.pending = self.pending, []
                    try:
                        await self._write_batch(session, batch)
                    except BaseException as exc:
                        # Cancelled (shutting down) or the session failed: no request waits forever.
                        for _, future in batch:
                            if not future.done():
                                future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
                        raise

    async def _write_batch(
        self, session: AsyncSession, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]
    ) -> None:
        try:
            await self._write(session, [values for values, _ in batch])
        except Exception:
            for values, future in batch:
                try:
                    await self._write(session, [values])
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(None)
        else:
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


def _writer(state: State) -> InboxWriter:
    """The app's group-commit writer, made at its first use."""
    writer: InboxWriter | None = getattr(state, "inbox_writer", None)
    if writer is None:
        writer = state.inbox_writer = InboxWriter(state.sessions, state.engine.dialect.name)
    return writer


def _is_self_delete(body: bytes) -> bool:
    try:
        activity = ap.loads_bounded(body, ENVELOPE_LIMITS.json)
    except ap.MalformedDocument:
        return False
    if not isinstance(activity, dict):
        return False
    return ap.has_type(activity, "Delete") and ap.get_id(activity.get("object")) == ap.get_id(activity.get("actor"))


class Inbox:
    """``POST`` to the shared inbox (``personal=False``) or to ``/users/{username}/inbox``.

    A plain ASGI endpoint, reached by ``InboxFirst`` past the API's middleware; every refusal is answered
    here, and anything raised reaches starlette's error handler (a 500).
    """

    def __init__(self, *, personal: bool) -> None:
        self.personal = personal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        username = scope["path_params"]["username"] if self.personal else None
        worker: Worker | None = getattr(scope["app"].state, "worker", None)
        # The in-process worker gives way to the inbox while requests are in flight (``Worker.serving``).
        with worker.serving() if worker is not None else contextlib.nullcontext():
            response = await _receive(scope, receive, username, worker)
        if response is not None:
            await response(scope, receive, send)


routes = [
    Route("/inbox", Inbox(personal=False), methods=["POST"]),
    Route("/users/{username}/inbox", Inbox(personal=True), methods=["POST"]),
]
