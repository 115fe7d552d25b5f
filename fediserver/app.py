"""``create_app(settings)``: the Starlette application and the lifespan that owns its resources."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

import activitypub as ap
from fediserver import __version__, accounts, migrate
from fediserver.c2s import activities as c2s_activities
from fediserver.c2s import inbox as c2s_inbox
from fediserver.c2s import media as c2s_media
from fediserver.c2s import outbox as c2s_outbox
from fediserver.c2s import proxy as c2s_proxy
from fediserver.config import Settings
from fediserver.db import engine_from_settings, session_factory
from fediserver.domain.services import Services
from fediserver.errors import AppError
from fediserver.federation.context import Federation
from fediserver.imagegen.watch import JobWatch
from fediserver.jobs import doorbell
from fediserver.jobs.handlers import build_handlers
from fediserver.jobs.supervision import SupervisedTask
from fediserver.jobs.worker import JobHandler, Worker
from fediserver.logins import LoginLimiter
from fediserver.mastodon.cors import MastodonCors
from fediserver.mastodon.ratelimit import RateLimit
from fediserver.mastodon.routes import accounts as api_accounts
from fediserver.mastodon.routes import collections as api_collections
from fediserver.mastodon.routes import conversations as api_conversations
from fediserver.mastodon.routes import credentials as api_credentials
from fediserver.mastodon.routes import edits as api_edits
from fediserver.mastodon.routes import follow_requests as api_follow_requests
from fediserver.mastodon.routes import instance as api_instance
from fediserver.mastodon.routes import marks as api_marks
from fediserver.mastodon.routes import media as api_media
from fediserver.mastodon.routes import notifications as api_notifications
from fediserver.mastodon.routes import reactions as api_reactions
from fediserver.mastodon.routes import relations as api_relations
from fediserver.mastodon.routes import search as api_search
from fediserver.mastodon.routes import statuses as api_statuses
from fediserver.mastodon.routes import timelines as api_timelines
from fediserver.mastodon.streaming import routes as api_streaming
from fediserver.mastodon.streaming.broker import build_broker
from fediserver.mastodon.streaming.relay import Relay
from fediserver.media import LocalMediaStore
from fediserver.oauth import endpoints as oauth_endpoints
from fediserver.oauth import pages as oauth_pages
from fediserver.routes import actors, assist, generations, health, inbox, notes, wellknown
from fediserver.routes.guard import NulGuard
from fediserver.routes.inbox_first import InboxFirst
from fediserver.siblings import Siblings
from fediserver.supervisor import Supervisor
from fediserver.urls import Urls
from fediserver.web.context import WebUI
from fediserver.web.routes import routes as web_routes

log = logging.getLogger("fediserver.app")


class SchemaOutOfDate(RuntimeError):
    pass


@dataclass(frozen=True)
class AppOptions:
    run_worker: bool = True
    handlers: Sequence[JobHandler] | None = None
    transport: httpx.AsyncBaseTransport | None = None
    # The GPU worker's command line: started beside the server for its lifetime, restarted if it dies.
    gpu_worker_argv: Sequence[str] | None = None
    # Descriptors the GPU worker inherits (``siblings.parent_pipe``'s read end).
    gpu_worker_fds: Sequence[int] = ()
    # Sibling web processes on this process's listening socket (``server.processes``), started once this
    # one is up, stopped with it, restarted if they die.
    siblings: Siblings | None = None
    # This process is such a sibling: the worker runs in the first process (``/health`` says so).
    sibling: bool = False


def user_agent(settings: Settings) -> str:
    return f"fediserver/{__version__} (+{Urls.from_settings(settings).base}/)"


def build_http_client(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The outbound client; by default it connects only to addresses vetted at connect time (DNS rebinding)."""
    if transport is None:
        transport = ap.PinnedTransport(allow_private=settings.federation.allow_private_addresses)
    return httpx.AsyncClient(
        headers={"User-Agent": user_agent(settings)},
        timeout=httpx.Timeout(10.0, connect=5.0),
        follow_redirects=False,
        transport=transport,
    )


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return JSONResponse({"error": exc.message}, status_code=exc.status_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"method": request.method, "path": request.url.path},
    )
    return JSONResponse({"error": "internal server error"}, status_code=500)


def _start_siblings(siblings: Siblings | None) -> list[Supervisor]:
    if siblings is None:
        return []
    started = []
    for number in range(2, siblings.count + 2):
        child = Supervisor(siblings.argv, name=f"web-{number}", pass_fds=siblings.pass_fds, own_session=True)
        child.start()
        started.append(child)
    return started


def create_app(settings: Settings, options: AppOptions | None = None) -> Starlette:
    """Build the application; nothing is opened until the lifespan starts."""
    opts = options or AppOptions()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = engine_from_settings(settings)
        try:
            head = migrate.head_revision()
            current = await migrate.current_revision(engine)
            if current != head:
                raise SchemaOutOfDate(
                    f"database schema is at {current or 'nothing'}, code expects {head}: run `fediserver migrate`"
                )
            sessions = session_factory(engine)
            async with sessions() as session:
                await accounts.ensure_instance_actor(session)
                await session.commit()
            http = build_http_client(settings, opts.transport)
            app.state.settings = settings
            app.state.engine = engine
            app.state.sessions = sessions
            app.state.http = http
            app.state.urls = Urls.from_settings(settings)
            app.state.media = LocalMediaStore(settings.media_dir)
            fed = Federation(settings=settings, urls=app.state.urls, http=http)
            app.state.federation = fed
            app.state.services = Services(fed=fed, store=app.state.media)
            app.state.login_limiter = LoginLimiter()
            app.state.job_watch = JobWatch(sessions)
            app.state.broker = build_broker(settings)
            await app.state.broker.start()
            relay = Relay(sessions, app.state.broker, settings.api.streaming_poll_interval)
            await relay.start()
            app.state.web = WebUI.build(settings)
            handlers = list(opts.handlers) if opts.handlers is not None else build_handlers(fed)
            stop = asyncio.Event()
            relaying = SupervisedTask(relay.run, stop, name="stream-relay")
            relaying.start()
            task: SupervisedTask | None = None
            app.state.worker_task = None
            app.state.sibling = opts.sibling
            bell: doorbell.Doorbell | None = None
            if opts.run_worker and handlers:
                if opts.siblings is not None:
                    # The siblings' inboxes and deliveries cannot call ``wake``: they ring, as for a worker
                    # process of its own.
                    bell = await doorbell.Doorbell.open(engine, [doorbell.INBOX, doorbell.FEDERATION])
                worker = Worker(
                    sessions,
                    handlers,
                    lease=timedelta(seconds=settings.worker.lease_seconds),
                    poll_interval=settings.worker.poll_interval,
                    gives_way=True,
                    woken_by=bell,
                )
                app.state.worker = worker
                # Supervised, not a bare task: a worker that died silently would leave the inbox answering
                # 202 to a queue nobody works; /health reports its state.
                task = SupervisedTask(worker.run, stop, name="worker")
                app.state.worker_task = task
                task.start()
            gpu = None
            if opts.gpu_worker_argv:
                gpu = Supervisor(opts.gpu_worker_argv, name="gpu-worker", pass_fds=opts.gpu_worker_fds)
                gpu.start()
            siblings = _start_siblings(opts.siblings)
            try:
                yield
            finally:
                children = [*siblings, *([gpu] if gpu is not None else [])]
                await asyncio.gather(*(asyncio.to_thread(child.stop) for child in children))
                stop.set()
                if task is not None:
                    await task.join()
                if bell is not None:
                    await bell.close()
                await relaying.join()
                relay.stop()
                await app.state.job_watch.close()
                await http.aclose()
                await app.state.broker.stop()
        finally:
            await engine.dispose()

    routes: list[BaseRoute] = [
        # First: the router tries routes in order, and the inboxes take most requests of a busy instance.
        # The owner's GET of a personal inbox (C2S) still finds its route: a route whose method matches
        # wins over an earlier one whose path alone does.
        *inbox.routes,
        *health.routes,
        *wellknown.routes,
        *actors.routes,
        *c2s_outbox.routes,
        *c2s_media.routes,
        *c2s_inbox.routes,
        *c2s_proxy.routes,
        *c2s_activities.routes,
        *notes.routes,
        *generations.routes,
        *assist.routes,
        *oauth_endpoints.routes,
        *oauth_pages.routes,
        *api_instance.routes,
        # Before ``/api/v1/accounts/{id}``, which would take ``search`` for an id.
        *api_credentials.routes,
        *api_relations.routes,
        *api_follow_requests.routes,
        *api_notifications.routes,
        *api_accounts.routes,
        *api_statuses.routes,
        *api_edits.routes,
        *api_marks.routes,
        *api_reactions.routes,
        *api_collections.routes,
        *api_conversations.routes,
        *api_media.routes,
        *api_timelines.routes,
        *api_search.routes,
        *api_streaming.routes,
        *api_instance.fallback,
        *web_routes,
    ]
    return Starlette(
        debug=False,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            AppError: _app_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
        # The inboxes first, past the layers that do nothing for them; CORS outermost of the rest so that 429
        # answers carry it too; NUL bytes refused before any route reads them.
        middleware=[
            Middleware(InboxFirst, routes=inbox.routes),
            Middleware(MastodonCors),
            Middleware(RateLimit, settings=settings.api),
            Middleware(NulGuard),
        ],
    )
