"""Fan-out: one post to 10,000 followers on 1,000 hosts, against a bare httpx loop posting the same signed bodies.

Run from the repository root (so this checkout's code is imported):

    python -m bench.bench_fanout [--rounds 3] [--hosts 1000] [--per-host 10]

The hosts are ``--sinks`` sink processes on 127.0.0.1, each listening on its share of ``--hosts`` ports (each
port its own ``127.0.0.1:PORT`` netloc, so its own host for delivery); a sink answers ``POST /inbox`` with 202
after reading the whole body, and counts. The followers (``--per-host`` per host, all sharing the host's
``/inbox``) are inserted straight into a migrated SQLite database as ``remote_actors`` and accepted
``follows``, so delivery deduplicates them to one POST per host.

* fediserver: ``domain.posts.publish_post`` + commit, then the worker's ``run_once`` (``DeliveryHandler``
  with the default ``delivery_concurrency`` 16 and ``delivery_per_host`` 2, the real ``ActivityPubClient``
  and HTTP client) until no job is left; timed from before ``publish_post`` until every job is ``done``.
* baseline: a bare loop over the same inbox URLs with one ``httpx.AsyncClient``, at most 16 at once, that
  signs each POST afresh (cavage-12, the same key and body) and checks for a 2xx.

Each round runs fediserver (a new post each round), then the baseline with the body just delivered; the
figures are medians over rounds.
Results are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

import activitypub as ap
from bench.loopback import HOST, ROOT, raise_fd_limit, stop_process

SECRET = "bench-fanout-secret-0123456789abcdefghijklmn"
ACCEPTED = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"


# --- the sink process ---------------------------------------------------------------------------------------


class SinkProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1: reads each request's head and Content-Length body, answers 202 (or the count)."""

    counter: list[int]

    def __init__(self, counter: list[int]) -> None:
        self.counter = counter
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            if head.startswith("POST /inbox "):
                self.counter[0] += 1
                self.transport.write(ACCEPTED)
            elif head.startswith("GET /stats "):
                body = json.dumps({"posts": self.counter[0]}).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
            else:
                self.transport.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")


async def sink(count: int, lifetime: float) -> None:
    """Listen on ``count`` loopback ports, print them as one JSON line, serve until stdin closes or ``lifetime``."""
    raise_fd_limit(count * 4 + 256)
    loop = asyncio.get_running_loop()
    counter = [0]
    servers = [await loop.create_server(lambda: SinkProtocol(counter), HOST, 0, backlog=256) for _ in range(count)]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print(json.dumps(ports), flush=True)
    # stdin closing (the parent exits or closes the pipe) or the lifetime ends the sink.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(reader.read(), lifetime)
    for server in servers:
        server.close()


# --- the benchmark ------------------------------------------------------------------------------------------


def start_sinks(processes: int, hosts: int, lifetime: float) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    shares = [hosts // processes + (1 if i < hosts % processes else 0) for i in range(processes)]
    for share in shares:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.bench_fanout", "--sink", str(share), "--lifetime", str(lifetime)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        )
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("a sink process did not start")
        ports.extend(json.loads(line))
    return procs, ports


async def sink_posts(client: httpx.AsyncClient, first_ports: list[int]) -> int:
    total = 0
    for port in first_ports:
        response = await client.get(f"http://{HOST}:{port}/stats")
        total += int(response.json()["posts"])
    return total


def settings_for(folder: Path) -> Any:
    from fediserver.config import parse_settings

    raw: dict[str, dict[str, Any]] = {
        "instance": {"domain": f"{HOST}:9", "scheme": "http", "secret_key": SECRET},
        "database": {"url": f"sqlite+aiosqlite:///{folder / 'db.sqlite'}"},
        "media": {"directory": str(folder / "media")},
        "federation": {"allow_private_addresses": True},
    }
    return parse_settings(raw, {}, folder)


async def bench(args: argparse.Namespace) -> int:
    from fediserver import accounts, migrate
    from fediserver.app import build_http_client
    from fediserver.db import make_engine, session_factory
    from fediserver.domain.posts import PostDraft, publish_post
    from fediserver.domain.services import Services
    from fediserver.federation.context import Federation
    from fediserver.federation.delivery import DeliveryHandler
    from fediserver.jobs.worker import Worker
    from fediserver.media import LocalMediaStore
    from fediserver.models import DeliveryJob, Follow, RemoteActor
    from fediserver.urls import Urls

    soft = raise_fd_limit(args.hosts * 2 + 1024)
    procs, ports = start_sinks(args.sinks, args.hosts, lifetime=600.0)
    shares = [args.hosts // args.sinks + (1 if i < args.hosts % args.sinks else 0) for i in range(args.sinks)]
    first_ports = [ports[sum(shares[:i])] for i in range(args.sinks)]
    inboxes = [f"http://{HOST}:{port}/inbox" for port in ports]
    tmp = tempfile.TemporaryDirectory(prefix="bench-fanout-")
    folder = Path(tmp.name)
    settings = settings_for(folder)
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    urls = Urls.from_settings(settings)
    fed_times: list[float] = []
    bare_times: list[float] = []
    try:
        await migrate.upgrade(engine)
        async with sessions() as session:
            await accounts.create_user(session, "alice", "password-alice-123")
            await session.commit()
            alice = await accounts.get_user_actor(session, "alice")
            followed = urls.actor("alice")
            actors: list[dict[str, Any]] = []
            follows: list[dict[str, Any]] = []
            for port in ports:
                for j in range(args.per_host):
                    uri = f"http://{HOST}:{port}/users/f{j}"
                    actors.append(
                        {
                            "uri": uri, "domain": f"{HOST}:{port}", "inbox": f"{uri}/inbox",
                            "shared_inbox": f"http://{HOST}:{port}/inbox", "key_id": f"{uri}#main-key", "raw": {},
                        }
                    )  # fmt: skip
                    follows.append(
                        {
                            "activity_uri": f"{uri}#follow",
                            "follower_uri": uri,
                            "followed_uri": followed,
                            "state": "accepted",
                        }
                    )
            await session.execute(insert(RemoteActor), actors)
            await session.execute(insert(Follow), follows)
            await session.commit()
        signer = ap.Signer(key_id=urls.actor_key("alice"), private_key=ap.load_private_key(alice.private_key_pem))
        print(
            f"{len(ports)} sink hosts in {args.sinks} processes, {len(follows)} followers; open-file limit {soft}",
            flush=True,
        )

        async with build_http_client(settings) as http:
            fed = Federation(settings=settings, urls=urls, http=http)
            handler = DeliveryHandler(fed)
            worker = Worker(sessions, [handler], poll_interval=settings.worker.poll_interval)
            async with httpx.AsyncClient() as control:
                for rnd in range(args.rounds):
                    before = await sink_posts(control, first_ports)
                    start = time.perf_counter()
                    async with sessions() as session:
                        me = await accounts.get_user_actor(session, "alice")
                        svc = Services(fed=fed, store=LocalMediaStore(settings.media_dir))
                        note = await publish_post(svc, session, me, PostDraft(text=f"Round {rnd}: hello, followers"))
                        await session.commit()
                        jobs = list(
                            await session.scalars(
                                select(DeliveryJob).where(
                                    DeliveryJob.activity_id == urls.note_activity(note.uri.rsplit("/", 1)[1])
                                )
                            )
                        )
                    await asyncio.wait_for(drain(worker), args.timeout)
                    fed_times.append(time.perf_counter() - start)
                    async with sessions() as session:
                        done = await session.scalar(
                            select(func.count())
                            .select_from(DeliveryJob)
                            .where(DeliveryJob.activity_id == jobs[0].activity_id, DeliveryJob.state == "done")
                        )
                    received = await sink_posts(control, first_ports) - before
                    if len(jobs) != len(inboxes) or done != len(jobs) or received != len(jobs):
                        raise RuntimeError(f"fediserver: {len(jobs)} jobs, {done} done, {received} received")

                    # Baseline: the very body fediserver just delivered, signed afresh per POST.
                    before = await sink_posts(control, first_ports)
                    start = time.perf_counter()
                    payload = jobs[0].body.encode("utf-8")
                    await asyncio.wait_for(bare_loop(inboxes, payload, signer, handler.concurrency), args.timeout)
                    bare_times.append(time.perf_counter() - start)
                    if await sink_posts(control, first_ports) - before != len(inboxes):
                        raise RuntimeError("baseline: the sinks did not receive one POST per host")
                    print(
                        f"round {rnd + 1}: fediserver {fed_times[-1]:.2f} s ({len(jobs)} deliveries), "
                        f"bare httpx {bare_times[-1]:.2f} s, ratio {fed_times[-1] / bare_times[-1]:.2f}",
                        flush=True,
                    )
    finally:
        await engine.dispose()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in procs:
            stop_process(proc)
        tmp.cleanup()

    ratios = [f / b for f, b in zip(fed_times, bare_times, strict=True)]
    print(
        f"\nPython {platform.python_version()}, httpx {httpx.__version__}, {args.hosts} hosts x {args.per_host} "
        f"followers, medians of {args.rounds} rounds"
    )
    print("| path | fully delivered | deliveries/s |")
    print("|---|---|---|")
    for name, times in (("fediserver (publish + worker)", fed_times), ("bare httpx loop (baseline)", bare_times)):
        med = statistics.median(times)
        print(f"| {name} | {med:.2f} s | {args.hosts / med:,.0f} |")
    print(f"| ratio (fediserver / bare), median of per-round ratios | {statistics.median(ratios):.2f}x | |")
    print(f"target (<= 10 s): {'met' if statistics.median(fed_times) <= 10 else 'missed'}")
    return 0


async def bare_loop(inboxes: list[str], body: bytes, signer: ap.Signer, concurrency: int) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def post(client: httpx.AsyncClient, url: str) -> None:
        async with limit:
            headers = ap.sign_request(
                method="POST", url=url, headers={"content-type": ap.ACTIVITY_JSON, "accept": ap.AS2_ACCEPT},
                body=body, key_id=signer.key_id, private_key=signer.private_key, now=datetime.now(UTC),
            )  # fmt: skip
            response = await client.post(url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                raise RuntimeError(f"{url} answered {response.status_code}")

    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
        await asyncio.gather(*(post(client, url) for url in inboxes))


async def drain(worker: Any) -> None:
    """Run the worker until a pass finds nothing to do (bounded by the caller's timeout)."""
    while await worker.run_once():
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--per-host", type=int, default=10, help="followers per host (sharing its inbox)")
    parser.add_argument("--sinks", type=int, default=2, help="sink processes sharing the hosts")
    parser.add_argument("--timeout", type=float, default=60.0, help="limit for one fan-out, seconds")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=600.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        asyncio.run(sink(args.sink, args.lifetime))
        return 0
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
