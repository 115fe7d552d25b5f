"""The inbox application's own CPU per accepted request: signed Creates called straight into the ASGI app.

Run from the repository root:

    python -m bench.bench_inbox_app [--requests 3000] [--rounds 5] [--concurrency 50] [--personal]

No HTTP server and no sockets: the app that ``fediserver serve`` runs (``create_app`` on a migrated SQLite
instance, its lifespan started, ``gc.freeze()`` as ``serve`` calls it) is called with ASGI scopes, one
task per simulated connection. What uvicorn, h11 and the access log cost comes on top (the bare starlette
endpoint of ``bench_inbox_deployed`` measures that part). The senders' keys are served by a loopback
server in this process and fetched once before anything is timed. Per round: the event loop thread's CPU
time per accepted request (``time.thread_time``) and the whole process's (``time.process_time``: with the
database threads), medians over rounds. Every request must get 202.

``--profile PATH`` writes a cProfile of the timed rounds (``python -m pstats PATH``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

from bench.bench_inbox import Sender, actor_server, fediserver_settings, prepare_database
from bench.bench_inbox_deployed import signed_mention
from bench.loopback import HOST, free_port

Message = MutableMapping[str, Any]


def signed(sender: Sender, port: int, path: str, tag: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """``bench_inbox_deployed``'s Create mentioning alice, as ASGI header pairs and a body."""
    headers, body = signed_mention(sender, port, path, tag, f"http://{HOST}:{port}/users/alice")
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    return raw, body


async def call(app: Any, port: int, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 40000), "server": (HOST, port),
        "state": {},
    }  # fmt: skip
    sent = False
    status = 0

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def lifespan(app: Any) -> tuple[asyncio.Task[None], Callable[[], Awaitable[None]]]:
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"start-up failed: {started}")

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return task, stop


async def bench(args: argparse.Namespace) -> int:
    from fediserver.app import AppOptions, create_app

    path = "/users/alice/inbox" if args.personal else "/inbox"
    with tempfile.TemporaryDirectory(prefix="bench-inbox-app-") as tmp:
        folder = Path(tmp)
        port, actor_port = free_port(), free_port()
        await prepare_database(folder, port)
        senders = [Sender(f"http://{HOST}:{actor_port}", i) for i in range(args.actors)]
        actors = actor_server(senders, actor_port)
        actor_task = asyncio.create_task(actors.serve())
        app = create_app(fediserver_settings(folder, port), AppOptions(run_worker=args.worker))
        _, stop = await lifespan(app)
        try:
            for s in senders:
                status = await call(app, port, path, *signed(s, port, path, "first"))
                if status != 202:
                    raise RuntimeError(f"warm-up request refused: {status}")
            gc.collect()
            gc.freeze()
            profiler = cProfile.Profile() if args.profile else None
            loop_us: list[float] = []
            process_us: list[float] = []
            for rnd in range(args.rounds):
                requests = [signed(senders[i % len(senders)], port, path, f"r{rnd}-{i}") for i in range(args.requests)]
                queue = iter(requests)
                statuses: dict[int, int] = {}

                async def connection(
                    queue: Iterator[tuple[list[tuple[bytes, bytes]], bytes]], statuses: dict[int, int]
                ) -> None:
                    for headers, body in queue:
                        status = await call(app, port, path, headers, body)
                        statuses[status] = statuses.get(status, 0) + 1

                if profiler:
                    profiler.enable()
                t_thread, t_process, t_wall = time.thread_time(), time.process_time(), time.perf_counter()
                await asyncio.gather(*(connection(queue, statuses) for _ in range(args.concurrency)))
                wall = time.perf_counter() - t_wall
                thread = time.thread_time() - t_thread
                process = time.process_time() - t_process
                if profiler:
                    profiler.disable()
                if statuses != {202: args.requests}:
                    raise RuntimeError(f"not every request was accepted: {statuses}")
                loop_us.append(thread / args.requests * 1e6)
                process_us.append(process / args.requests * 1e6)
                print(
                    f"round {rnd + 1}: event loop {loop_us[-1]:.0f} us/request, process {process_us[-1]:.0f} us, "
                    f"{args.requests / wall:,.0f} requests/s",
                    flush=True,
                )
            if profiler:
                profiler.dump_stats(args.profile)
        finally:
            await stop()
            actors.should_exit = True
            await asyncio.wait_for(actor_task, 10)
    print(
        f"{path}: median event-loop CPU {statistics.median(loop_us):.0f} us per accepted request, "
        f"process {statistics.median(process_us):.0f} us ({args.rounds} rounds of {args.requests})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per round")
    parser.add_argument("--concurrency", type=int, default=50, help="simulated connections")
    parser.add_argument("--actors", type=int, default=50, help="distinct signing actors (keys)")
    parser.add_argument("--personal", action="store_true", help="alice's inbox instead of the shared one")
    parser.add_argument("--worker", action="store_true", help="run the in-process worker too")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the timed rounds here")
    args = parser.parse_args(argv)
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
