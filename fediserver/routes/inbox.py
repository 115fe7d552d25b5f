"""Inbox and shared inbox: cap, verify, check origins, persist, 202 (checklist 17, 18, 29–31, 39).

Everything else happens in the worker (``federation.inbound``). A signature we could not verify never
gets 202.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import activitypub as ap
from fediserver.federation.context import Federation
from fediserver.federation.origins import OriginError, check_activity
from fediserver.federation.verify import BlockedSender, verify_signed_request
from fediserver.models import InboundActivity, LocalActor
from fediserver.routes.responses import error, signed_request

log = logging.getLogger("fediserver.inbox")
ACCEPTED = frozenset({"application/activity+json", "application/ld+json", "application/json"})


class BodyTooLarge(Exception):
    pass


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _receive(request: Request, recipient_username: str | None) -> Response:
    fed: Federation = request.app.state.federation
    limit = fed.settings.server.max_request_bytes
    try:
        body = await _read_capped(request, limit)
    except BodyTooLarge:
        return error(413, f"body larger than {limit} bytes")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED:
        return error(415, "Content-Type must be application/activity+json or application/ld+json")
    async with request.app.state.sessions() as session:
        recipient_id = None
        if recipient_username is not None:
            recipient_id = await session.scalar(
                select(LocalActor.id).where(
                    LocalActor.username == recipient_username, LocalActor.actor_type != "Application"
                )
            )
            if recipient_id is None:
                return error(404, f"no user {recipient_username}")
        try:
            activity = json.loads(body)
        except ValueError as exc:
            return error(400, f"body is not JSON: {exc}")
        if not isinstance(activity, dict):
            return error(400, "body is not a JSON object")
        try:
            verified = await verify_signed_request(fed, session, signed_request(request, body))
        except BlockedSender as exc:
            return error(403, str(exc))
        except ap.RemoteStatusError as exc:
            if exc.status in (404, 410) and _is_self_delete(activity):
                # The actor is gone and we never knew its key: nothing to delete (checklist 40).
                return Response(status_code=202)
            return error(401, f"signature: cannot fetch the signing key: {exc}")
        except ap.ActivityPubError as exc:
            return error(401, f"signature: {exc}")
        try:
            check_activity(activity, verified.actor.uri)
        except OriginError as exc:
            return error(exc.status, str(exc))
        values: dict[str, Any] = {
            "activity_id": activity["id"],
            "activity_type": ap.get_types(activity)[0][:64],
            "actor_uri": verified.actor.uri,
            "key_id": verified.key_id,
            "recipient_actor_id": recipient_id,
            "body": activity,
            "state": "queued",
            "next_attempt_at": fed.clock(),
        }
        writer = _writer(request, session)
        if writer is not None:
            # A signer fetched just now was stored in this session: keep it (a no-op when nothing was).
            await session.commit()
        else:
            session.add(InboundActivity(**values))
            try:
                await session.commit()
            except IntegrityError:
                # Already received (a retry or a second shared-inbox copy): accepted once is enough.
                await session.rollback()
                return Response(status_code=202)
    if writer is not None:
        # Already received rows are skipped by the INSERT: accepted once is enough, as above.
        await writer.insert(values)
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return Response(status_code=202)


class SQLiteInboxWriter:
    """Group commit for SQLite, which has a single writer: rows accepted while a commit is in flight share the next.

    Each request still gets its 202 only once its row is committed. One transaction per request made
    concurrent requests collide on the database lock (each on its own pooled connection) and back off in
    the busy handler's sleeps; one writer task inserting everything queued in one transaction does not.
    A duplicate ``activity_id`` is skipped (``ON CONFLICT DO NOTHING``), like the ``IntegrityError``
    path. If a batch fails, its rows are retried one by one so that each request gets its own outcome.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self.task: asyncio.Task[None] | None = None

    async def insert(self, values: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((values, future))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain(), name="fediserver-inbox-writer")
        await future

    async def _write(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        stmt = sqlite_insert(InboundActivity).on_conflict_do_nothing(index_elements=["activity_id"])
        try:
            await session.execute(stmt, rows)
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


def _writer(request: Request, session: AsyncSession) -> SQLiteInboxWriter | None:
    """The app's group-commit writer on SQLite; None elsewhere (each request commits its own row)."""
    bind = session.bind
    if bind is None or bind.dialect.name != "sqlite":
        return None
    writer: SQLiteInboxWriter | None = getattr(request.app.state, "inbox_writer", None)
    if writer is None:
        writer = SQLiteInboxWriter(request.app.state.sessions)
        request.app.state.inbox_writer = writer
    return writer


def _is_self_delete(activity: dict[str, object]) -> bool:
    return ap.has_type(activity, "Delete") and ap.get_id(activity.get("object")) == ap.get_id(activity.get("actor"))


async def shared_inbox(request: Request) -> Response:
    return await _receive(request, None)


async def user_inbox(request: Request) -> Response:
    return await _receive(request, request.path_params["username"])


routes = [
    Route("/inbox", shared_inbox, methods=["POST"]),
    Route("/users/{username}/inbox", user_inbox, methods=["POST"]),
]
