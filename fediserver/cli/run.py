"""``serve`` and ``worker``."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import os
import sys
from datetime import timedelta
from typing import Any

from fediserver import siblings
from fediserver.cli.common import settings_from, worker_runtime
from fediserver.jobs.handlers import build_handlers
from fediserver.logs import configure_logging

log = logging.getLogger("fediserver.cli")
SHUTDOWN_GRACE_SECONDS = 5


def register(commands: Any) -> None:
    from fediserver.cli.common import config_parent

    serve = commands.add_parser(
        "serve", parents=[config_parent()], help="run the web server (and, by default, the worker)"
    )
    serve.add_argument("--host", help="listen address (default: server.host)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port)")
    serve.add_argument("--no-worker", action="store_true", help="do not run the job worker in this process")
    serve.add_argument(
        "--processes", type=_positive, help="web processes on the one address (default: server.processes)"
    )
    # A sibling web process (``fediserver.siblings``): the primary's listening socket and its watch pipe.
    serve.add_argument("--socket-fd", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--primary-fd", type=int, help=argparse.SUPPRESS)
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser("worker", parents=[config_parent()], help="run the job worker on its own")
    worker.set_defaults(handler=cmd_worker)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fediserver.app import AppOptions, create_app

    settings = settings_from(args)
    configure_logging(settings.logging)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    gpu_argv = None
    gpu_fds: tuple[int, ...] = ()
    if not args.no_worker and settings.generation.enabled:
        # The GPU worker ends with this process even after a kill -9, which no signal would pass on: a
        # restarted serve would otherwise start a second one beside the orphan, both holding the model.
        watch = siblings.parent_pipe()
        gpu_argv = (
            sys.executable, "-m", "fediserver", "--config", str(args.config), "gpu-worker", "--parent-fd", str(watch)
        )  # fmt: skip
        gpu_fds = (watch,)
    sockets = None
    plan = None
    if args.socket_fd is not None:
        sockets = [siblings.inherited_socket(args.socket_fd)]
    else:
        processes = siblings.server_processes(args.processes or settings.server.processes)
        if processes > 1:
            try:
                sockets = [siblings.listening_socket(host, port)]
            except siblings.BindError as exc:
                log.error(str(exc))
                return 1
            plan = siblings.plan_siblings(str(args.config), sockets[0], processes - 1)
    options = AppOptions(
        run_worker=not args.no_worker,
        gpu_worker_argv=gpu_argv,
        gpu_worker_fds=gpu_fds,
        siblings=plan,
        sibling=args.socket_fd is not None,
    )
    app = create_app(settings, options)
    if args.socket_fd is None:
        log.info(
            "serving",
            extra={
                "url": f"http://{host}:{port}",
                "instance": settings.instance.domain,
                "processes": 1 + (plan.count if plan else 0),
            },
        )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        server_header=False,
        lifespan="on",
        # Streams (the client API's, the web UI's notifications) stay open until the client leaves; without
        # a limit a restart would wait for every open tab. Their clients reconnect by themselves.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    server = uvicorn.Server(config)
    if args.primary_fd is not None:
        siblings.watch_parent(args.primary_fd, functools.partial(setattr, server, "should_exit", True))
    # Everything imported so far lives as long as the process: keep it out of the garbage collector's
    # scans, whose full passes were the inbox's p99 tail (docs/benchmarks.md, inbox acceptance).
    gc.freeze()
    server.run(sockets=sockets)
    # uvicorn reports a failed start-up (e.g. an unmigrated database) only through its exit state.
    return 0 if server.started else 1


async def _run_worker(args: argparse.Namespace) -> int:
    from fediserver.jobs import doorbell
    from fediserver.jobs.worker import Worker

    async with worker_runtime(args) as rt:
        # Woken as soon as an inbox (in another process) accepts activities or a delivery is queued; polling
        # stays the fallback.
        bell = await doorbell.Doorbell.open(rt.engine, [doorbell.INBOX, doorbell.FEDERATION])
        try:
            worker = Worker(
                rt.sessions,
                build_handlers(rt.fed),
                lease=timedelta(seconds=rt.settings.worker.lease_seconds),
                poll_interval=rt.settings.worker.poll_interval,
                woken_by=bell,
            )
            await worker.run(rt.stop)
        finally:
            await bell.close()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    # Before asyncio.run: on Linux the nice value is a thread's, and the threads made later (the event
    # loop's executor, each SQLite connection's) inherit it.
    take_niceness(settings_from(args).worker.nice)
    return asyncio.run(_run_worker(args))


def take_niceness(niceness: int) -> None:
    """Make this thread's scheduling niceness at least ``niceness`` (setpriority(2)).

    Never lowered: a process already started with a higher nice value (``Nice=`` in a systemd unit) keeps
    it, and lowering one needs privileges. Where the platform has no priorities, nothing changes; where a
    sandbox refuses the call, the worker runs at its priority and says so: a priority is not worth an
    instance whose activities are never processed.
    """
    if not hasattr(os, "getpriority"):
        return
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) < niceness:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except OSError as exc:
        log.warning("worker.nice not applied: %s", exc, extra={"nice": niceness})
