"""Inbox acceptance: signed activities from 100 concurrent senders, against a bare starlette endpoint.

Run from the repository root (so this checkout's code is imported):

    python -m bench.bench_inbox [--rounds 3] [--requests 5000] [--senders 100]

Two servers run in their own processes, each one uvicorn worker on 127.0.0.1 (asyncio loop, h11, access
log off): fediserver's shared inbox (SQLite, migrated, ``run_worker=False``: the inbox's job is verify,
check origins, insert the ``InboundActivity`` row, 202; the worker that processes the rows later is off)
and a bare starlette endpoint that only reads the body and answers 202. The sender actors (``--actors``
RSA-2048 keys) are served by a third tiny server in this process; fediserver fetches each key once,
before anything is timed. Every activity has a unique id and is signed (cavage-12, rsa-sha256) before
the round starts; both servers get the very same request bytes from the same minimal keep-alive client
(``bench/loopback.py``), ``--senders`` connections each sending one request at a time. Each round runs
the bare endpoint, then fediserver; the figures are medians over rounds. Results are in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import activitypub as ap
from bench.loopback import HOST, LoadResult, free_port, raw_post, run_load, start_module, stop_process, wait_for_port

SECRET = "bench-inbox-secret-0123456789abcdefghijklmn"


def fediserver_settings(folder: Path, port: int) -> Any:
    from fediserver.config import parse_settings

    raw: dict[str, dict[str, Any]] = {
        "instance": {"domain": f"{HOST}:{port}", "scheme": "http", "secret_key": SECRET},
        "database": {"url": f"sqlite+aiosqlite:///{folder / 'db.sqlite'}"},
        "media": {"directory": str(folder / "media")},
        "federation": {"allow_private_addresses": True},
    }
    return parse_settings(raw, {}, folder)


async def prepare_database(folder: Path, port: int) -> None:
    from fediserver import accounts, migrate
    from fediserver.db import make_engine, session_factory

    settings = fediserver_settings(folder, port)
    engine = make_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        async with session_factory(engine)() as session:
            await accounts.create_user(session, "alice", "password-alice-123")
            await session.commit()
    finally:
        await engine.dispose()


def serve(kind: str, folder: Path, port: int, gc_freeze: bool = False) -> None:
    """The server process: ``fediserver`` (shared inbox, no worker) or ``bare`` (reads the body, 202).

    ``gc_freeze`` (an experiment, off by default) calls ``gc.freeze()`` before serving, so the cyclic
    collector's full passes no longer walk every object created by the imports.
    """
    app: Starlette
    if kind == "fediserver":
        from fediserver.app import AppOptions, create_app

        app = create_app(fediserver_settings(folder, port), AppOptions(run_worker=False))
    else:

        async def inbox(request: Request) -> Response:
            await request.body()
            return Response(status_code=202)

        app = Starlette(routes=[Route("/inbox", inbox, methods=["POST"])])
    if gc_freeze:
        gc.freeze()
    profile = os.environ.get("BENCH_PROFILE")
    if profile and kind == "fediserver":
        # Optional, not a dependency: `pip install pyinstrument` (or put it on PYTHONPATH) to profile.
        pyinstrument: Any = importlib.import_module("pyinstrument")

        def on_term(signum: int, frame: object) -> None:
            raise SystemExit(0)

        # uvicorn re-raises the SIGTERM it caught once it has shut down: exit normally then, and write.
        signal.signal(signal.SIGTERM, on_term)
        profiler = pyinstrument.Profiler(interval=0.0005)
        profiler.start()
        try:
            uvicorn.run(app, host=HOST, port=port, log_config=None, log_level="warning", access_log=False)
        finally:
            profiler.stop()
            Path(profile).write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        return
    uvicorn.run(app, host=HOST, port=port, log_config=None, log_level="warning", access_log=False)


class Sender:
    def __init__(self, base: str, index: int) -> None:
        self.uri = f"{base}/actors/s{index}"
        self.key_id = f"{self.uri}#main-key"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def document(self) -> dict[str, Any]:
        return {
            "@context": [ap.AS_CONTEXT, "https://w3id.org/security/v1"],
            "id": self.uri,
            "type": "Person",
            "preferredUsername": self.uri.rsplit("/", 1)[1],
            "inbox": f"{self.uri}/inbox",
            "publicKey": {"id": self.key_id, "owner": self.uri, "publicKeyPem": self.public_pem},
        }


def actor_app(senders: dict[str, Sender]) -> Starlette:
    async def actor(request: Request) -> Response:
        sender = senders.get(request.path_params["name"])
        if sender is None:
            return Response(status_code=404)
        return JSONResponse(sender.document(), media_type=ap.ACTIVITY_JSON)

    return Starlette(routes=[Route("/actors/{name}", actor)])


def actor_server(senders: list[Sender], port: int) -> uvicorn.Server:
    """A loopback server for the senders' actor documents (their keys), to run in this process."""
    app = actor_app({s.uri.rsplit("/", 1)[1]: s for s in senders})
    return uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_config=None, access_log=False))


def signed_create(sender: Sender, inbox_port: int, tag: str) -> bytes:
    note = f"{sender.uri}/notes/{tag}"
    activity = {
        "@context": ap.AS_CONTEXT,
        "id": f"{note}/activity",
        "type": "Create",
        "actor": sender.uri,
        "published": "2026-11-25T00:00:00Z",
        "to": [ap.PUBLIC],
        "cc": [f"{sender.uri}/followers"],
        "object": {
            "id": note,
            "type": "Note",
            "attributedTo": sender.uri,
            "content": "<p>" + "benchmark post " * 30 + "</p>",
            "published": "2026-11-25T00:00:00Z",
            "to": [ap.PUBLIC],
            "cc": [f"{sender.uri}/followers"],
        },
    }
    body = json.dumps(activity).encode()
    url = f"http://{HOST}:{inbox_port}/inbox"
    headers = ap.sign_request(
        method="POST", url=url, headers={"content-type": ap.ACTIVITY_JSON}, body=body,
        key_id=sender.key_id, private_key=sender.key, now=datetime.now(UTC),
    )  # fmt: skip
    return raw_post("/inbox", inbox_port, headers, body)


def describe(name: str, result: LoadResult) -> str:
    return (
        f"{name:>10}: {result.rate:8.0f} req/s  p50 {result.p50 * 1000:6.1f} ms  "
        f"p99 {result.percentile(99) * 1000:6.1f} ms  statuses {result.statuses}"
    )


async def bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-inbox-") as tmp:
        folder = Path(tmp)
        fed_port, bare_port, actor_port = free_port(), free_port(), free_port()
        # Both servers get the same bytes, so the Host header names fediserver's port for both.
        await prepare_database(folder, fed_port)
        senders = [Sender(f"http://{HOST}:{actor_port}", i) for i in range(args.actors)]
        by_name = {s.uri.rsplit("/", 1)[1]: s for s in senders}
        actor_server = uvicorn.Server(
            uvicorn.Config(actor_app(by_name), host=HOST, port=actor_port, log_config=None, access_log=False)
        )
        actor_task = asyncio.create_task(actor_server.serve())
        procs = [
            start_module(
                ["bench.bench_inbox", "--serve", "fediserver", "--dir", tmp, "--port", str(fed_port)]
                + (["--gc-freeze"] if args.gc_freeze else [])
            ),
            start_module(["bench.bench_inbox", "--serve", "bare", "--dir", tmp, "--port", str(bare_port)]),
        ]
        try:
            for proc, port in zip(procs, (fed_port, bare_port), strict=True):
                await asyncio.to_thread(wait_for_port, port, proc)
            # Each sender's key is fetched once, one at a time, before anything is timed.
            first = [signed_create(s, fed_port, "first") for s in senders]
            for raw in first:
                result = await run_load(fed_port, [raw], 1)
                if result.statuses != {202: 1}:
                    raise RuntimeError(f"warm-up request refused: {result.statuses}")
            fed_results: list[LoadResult] = []
            bare_results: list[LoadResult] = []
            for rnd in range(args.rounds):
                total = args.warmup + args.requests
                batch = [signed_create(senders[i % len(senders)], fed_port, f"r{rnd}-{i}") for i in range(total)]
                warm, timed = batch[: args.warmup], batch[args.warmup :]
                for name, port, results in (("bare", bare_port, bare_results), ("fediserver", fed_port, fed_results)):
                    await run_load(port, warm, args.senders)
                    result = await run_load(port, timed, args.senders)
                    if result.statuses != {202: len(timed)}:
                        raise RuntimeError(f"{name}: not every request was accepted: {result.statuses}")
                    results.append(result)
                    print(f"round {rnd + 1}  {describe(name, result)}", flush=True)
        finally:
            for proc in procs:
                stop_process(proc)
            actor_server.should_exit = True
            await asyncio.wait_for(actor_task, 10)

    def med(results: list[LoadResult], what: str) -> float:
        values = {
            "rate": [r.rate for r in results],
            "p50": [r.p50 * 1000 for r in results],
            "p99": [r.percentile(99) * 1000 for r in results],
        }[what]
        return statistics.median(values)

    print(
        f"\nPython {platform.python_version()}, uvicorn {uvicorn.__version__}, {args.senders} senders, "
        f"{args.requests} timed requests per round (+{args.warmup} warm-up), medians of {args.rounds} rounds"
        f"{', gc.freeze() on' if args.gc_freeze else ''}"
    )
    print("| server | accepted/s | p50 | p99 |")
    print("|---|---|---|---|")
    for name, results in (("fediserver inbox", fed_results), ("bare starlette (baseline)", bare_results)):
        print(f"| {name} | {med(results, 'rate'):,.0f} | {med(results, 'p50'):.1f} ms | {med(results, 'p99'):.1f} ms |")
    ratios = [f.rate / b.rate for f, b in zip(fed_results, bare_results, strict=True)]
    print(f"| ratio (fediserver / bare), median of per-round ratios | {statistics.median(ratios):.2f} | | |")
    met = med(fed_results, "rate") >= 1000 and med(fed_results, "p99") < 100
    print(f"target (>= 1,000/s, p99 < 100 ms): {'met' if met else 'missed'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5000, help="timed requests per server per round")
    parser.add_argument("--warmup", type=int, default=1000, help="untimed requests before each timed run")
    parser.add_argument("--senders", type=int, default=100, help="concurrent connections")
    parser.add_argument("--actors", type=int, default=10, help="distinct signing actors (keys)")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="experiment: gc.freeze() in the fediserver process before serving"
    )
    parser.add_argument("--serve", choices=["fediserver", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.dir, args.port, args.gc_freeze)
        return 0
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
