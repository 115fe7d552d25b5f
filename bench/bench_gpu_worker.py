"""The GPU worker through the whole server, on the CPU: `fediserver serve` with the emulated engine.

The server starts as `scripts/serve` starts it (`fediserver init`, `migrate`, `user create`, `serve`:
the web process with its job worker, and the GPU worker as a supervised child), configured through
the environment with ``generation.model = "emulated:MS"`` (an engine that sleeps MS per image and
returns real 512x512 images, see generation/emulated.py), ``max_batch`` and ``poll_interval``. The
user has one remote follower (an inbox on a closed local port), so every post queues a delivery.

Measured, in this order, after one warm-up job:

- single-job latency: one ``POST /api/v1/generations`` at a time (with an OAuth bearer token, as apps
  send; ``--auth basic`` sends the password instead, whose argon2id check costs each request 33 ms of
  CPU), polled every 5 ms until its state is ``done`` (image stored, post created, delivery queued);
  median of ``--singles``;
- throughput: ``--jobs`` POSTed at once, images/s from the first POST to the last ``done`` event of their
  event streams (``events_url``, which the web UI follows);
- the baseline in the same run: the emulated engine alone at the same batch size (its bare rate),
  and the CPU time of one ``finish()`` (PNG, WebP, thumbnail, XMP, blurhash, C2PA) in this process,
  which gives the cores that encoding needs to keep the bare rate.

    .venv/bin/python bench/bench_gpu_worker.py [--delay-ms 24] [--jobs 32] [--max-batch 16]
        [--finish-processes -1]

On a GPU, ``--model DIR`` serves a saved diffusers pipeline instead (``bench_gpu.py --save-pipeline DIR``
builds SD-Turbo's architecture with random weights), with ``--steps`` and ``--guidance`` in every request
(a local folder gets the generic preset's 30 steps otherwise); the baseline is then bare diffusers,
``pipeline(...)`` on the same folder and device after the server has stopped, at ``--max-batch`` and at
batch 1::

    python bench/bench_gpu.py --device cuda --models sd-turbo --save-pipeline /tmp/sd-turbo
    python bench/bench_gpu_worker.py --model /tmp/sd-turbo --device cuda --max-batch 8
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

# Not the console script: on a GPU machine the project may be on PYTHONPATH rather than installed.
FEDISERVER = [sys.executable, "-m", "fediserver"]
PASSWORD = "bench-password-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def add_follower(config: Path, closed_port: int) -> None:
    """A remote follower whose inbox refuses connections: each post queues one delivery."""
    from fediserver.config import load_config
    from fediserver.db import make_engine, session_factory
    from fediserver.models import Follow, RemoteActor
    from fediserver.urls import Urls

    settings = load_config(config, environ=os.environ)
    engine = make_engine(settings.database_url)
    base = f"http://127.0.0.1:{closed_port}"
    async with session_factory(engine)() as session:
        session.add(
            RemoteActor(uri=f"{base}/users/bob", domain=f"127.0.0.1:{closed_port}", inbox=f"{base}/inbox", raw={})
        )
        session.add(
            Follow(
                activity_uri=f"{base}/follows/1",
                follower_uri=f"{base}/users/bob",
                followed_uri=Urls.from_settings(settings).actor("bench"),
                state="accepted",
            )
        )
        await session.commit()
    await engine.dispose()


async def phases(config: Path) -> list[tuple[float, float]]:
    """Per job, seconds from queued to claimed and from claimed to stored, from the job rows."""
    from sqlalchemy import select

    from fediserver.config import load_config
    from fediserver.db import make_engine, session_factory
    from fediserver.models import GenerationJob

    engine = make_engine(load_config(config, environ=os.environ).database_url)
    async with session_factory(engine)() as session:
        rows = (await session.scalars(select(GenerationJob).order_by(GenerationJob.id))).all()
    await engine.dispose()
    return [
        ((r.started_at - r.created_at).total_seconds(), (r.finished_at - r.started_at).total_seconds())
        for r in rows
        if r.started_at is not None and r.finished_at is not None
    ]


async def deliveries(config: Path) -> int:
    from sqlalchemy import func, select

    from fediserver.config import load_config
    from fediserver.db import make_engine, session_factory
    from fediserver.models import DeliveryJob

    engine = make_engine(load_config(config, environ=os.environ).database_url)
    async with session_factory(engine)() as session:
        count = await session.scalar(select(func.count()).select_from(DeliveryJob))
    await engine.dispose()
    return int(count or 0)


async def submit(
    http: httpx.AsyncClient, seed: int, options: dict[str, Any], *, events: bool = False
) -> tuple[str, float]:
    """POST one job; its status URL (or with ``events`` its event stream's) and when it was posted."""
    posted = time.perf_counter()
    response = await http.post("/api/v1/generations", json={"prompt": f"bench {seed}", "seed": seed, **options})
    if response.status_code != 202:
        raise RuntimeError(f"POST answered {response.status_code}: {response.text}")
    body = response.json()
    return (body["events_url"] if events else body["status_url"]), posted


async def wait_done_events(http: httpx.AsyncClient, events_url: str) -> float:
    """When the job's event stream (what the web UI listens to) says ``done``, with its post."""
    async with http.stream("GET", events_url) as response:
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "done":
                body = json.loads(line.removeprefix("data: "))
                if body["state"] != "done" or not body.get("post"):
                    raise RuntimeError(f"ended without a post: {body}")
                return time.perf_counter()
    raise RuntimeError(f"{events_url} ended without a done event")


async def wait_done(http: httpx.AsyncClient, status_url: str, interval: float = 0.005) -> float:
    while True:
        body = (await http.get(status_url)).json()
        if body["state"] == "done":
            if not body.get("post"):
                raise RuntimeError(f"done without a post: {body}")
            return time.perf_counter()
        if body["state"] in ("failed", "cancelled"):
            raise RuntimeError(f"job {body['state']}: {body.get('error')}")
        await asyncio.sleep(interval)


def bare_rate(model: str, batch: int, rounds: int = 5) -> float:
    from generation.emulated import EmulatedEngine
    from generation.presets import resolve_request

    engine = EmulatedEngine(model)
    requests = [resolve_request("bare", seed=i, model=model) for i in range(batch)]
    engine.generate(requests)
    started = time.perf_counter()
    for _ in range(rounds):
        engine.generate(requests)
    return batch * rounds / (time.perf_counter() - started)


def bare_diffusers(args: argparse.Namespace, rounds: int = 5) -> tuple[float, float]:
    """Bare diffusers on the saved folder: images/s at ``--max-batch`` and seconds for one image."""
    import torch
    from diffusers import DiffusionPipeline

    from generation._torch.device import choose_device, choose_dtype

    device = choose_device(args.device)
    dtype = choose_dtype(device, "auto", half_precision_ok=True)
    pipeline: Any = DiffusionPipeline.from_pretrained(args.model, dtype=dtype).to(device)  # type: ignore[no-untyped-call]
    pipeline.set_progress_bar_config(disable=True)

    def call(batch: int) -> float:
        started = time.perf_counter()
        pipeline(
            prompt=["bench"] * batch,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            width=args.size,
            height=args.size,
            generator=[torch.Generator("cpu").manual_seed(i) for i in range(batch)],
            output_type="pil",
        )
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - started

    call(args.max_batch)
    call(1)
    rate = args.max_batch / statistics.median(call(args.max_batch) for _ in range(rounds))
    return rate, statistics.median(call(1) for _ in range(rounds))


def finish_cpu_seconds(model: str, images: int = 8) -> float:
    """CPU seconds (all threads of this process) per finish() of an emulated 512x512 image, C2PA on."""
    from generation.emulated import EmulatedEngine
    from generation.output import finish
    from generation.presets import resolve_request
    from generation.provenance import ContentSigner, create_instance_certificates

    signer = ContentSigner(create_instance_certificates("bench.test"))
    engine = EmulatedEngine(model)
    requests = [resolve_request("cpu", seed=i, model=model) for i in range(images)]
    drawn = engine.generate(requests)
    finish(drawn[0], requests[0], signer=signer, software=engine.software())
    started = time.process_time()
    for image, request in zip(drawn, requests, strict=True):
        finish(image, request, signer=signer, software=engine.software())
    return (time.process_time() - started) / images


async def measure(args: argparse.Namespace, port: int, auth: str) -> tuple[list[float], float]:
    """Single-job latencies (s) and the elapsed time (s) for ``args.jobs`` submitted at once."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"authorization": auth}, timeout=60
    ) as http:
        for _ in range(600):
            try:
                if (await http.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        options: dict[str, Any] = (
            {"steps": args.steps, "guidance": args.guidance, "width": args.size, "height": args.size}
            if args.model
            else {}
        )
        url, _ = await submit(http, 0, options, events=True)
        # Engine load (a saved full-size pipeline: tens of seconds), encoding pool start: on its event stream,
        # not polled.
        await asyncio.wait_for(wait_done_events(http, url), 600)
        latencies = []
        for seed in range(1, args.singles + 1):
            url, posted = await submit(http, seed, options)
            latencies.append(await wait_done(http, url) - posted)
            await asyncio.sleep(0.2)
        started = time.perf_counter()
        # Followed as the web UI follows them, by their event streams: 32 clients polling every 20 ms
        # would load the web process with 1,600 requests a second of their own.
        submitted = await asyncio.gather(*(submit(http, 1000 + i, options, events=True) for i in range(args.jobs)))
        ends = await asyncio.gather(*(wait_done_events(http, url) for url, _ in submitted))
        return latencies, max(ends) - started


def bench(args: argparse.Namespace) -> None:
    model = str(args.model.resolve()) if args.model else f"emulated:{args.delay_ms:g}"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "fediserver.toml"
        port = free_port()
        env = {
            **os.environ,
            "FEDISERVER_CONFIG": str(config),
            "FEDISERVER_GENERATION_MODEL": model,
            "FEDISERVER_GENERATION_MAX_BATCH": str(args.max_batch),
            "FEDISERVER_GENERATION_FINISH_PROCESSES": str(args.finish_processes),
            "FEDISERVER_WORKER_POLL_INTERVAL": str(args.poll_interval),
            "FEDISERVER_GENERATION_DEVICE": args.device,
            # The single jobs' status polls (every 5 ms, with one token) can pass the client API's 300
            # requests per 5 minutes, which would answer 429 to what is measured.
            "FEDISERVER_API_RATE_LIMIT_REQUESTS": "1000000",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("FEDISERVER_")})
        run: dict[str, Any] = {"env": env, "check": True, "capture_output": True, "cwd": tmp}
        subprocess.run([*FEDISERVER, "init", "--domain", f"127.0.0.1:{port}", "--scheme", "http"], **run)
        subprocess.run([*FEDISERVER, "migrate"], **run)
        subprocess.run([*FEDISERVER, "user", "create", "bench", "--password-stdin"], input=PASSWORD.encode(), **run)
        asyncio.run(add_follower(config, free_port()))
        if args.auth == "token":
            # As the apps people use authenticate: an OAuth bearer token (`fediserver token create`).
            made = subprocess.run([*FEDISERVER, "token", "create", "bench", "--scopes", "generate read"], **run)
            auth = "Bearer " + made.stdout.decode().strip().splitlines()[-1]
        else:
            # Every request checks the password's argon2id hash (33 ms of CPU here).
            auth = "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
        with open(Path(tmp) / "serve.log", "wb") as log:
            server = subprocess.Popen(
                [*FEDISERVER, "serve", "--port", str(port)], env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                latencies, elapsed = asyncio.run(measure(args, port, auth))
            finally:
                server.terminate()
                server.wait(timeout=30)
        queued = asyncio.run(deliveries(config))
        timeline = asyncio.run(phases(config))
        if args.keep_log:
            args.keep_log.write_bytes((Path(tmp) / "serve.log").read_bytes())
    total_jobs = 1 + args.singles + args.jobs
    if args.model:
        bare, bare_single = bare_diffusers(args)
        baseline = "bare diffusers"
    else:
        bare, bare_single = bare_rate(model, args.max_batch), args.delay_ms / 1000
        baseline = "emulated bare"
    cpu = finish_cpu_seconds(f"emulated:{args.delay_ms:g}")
    rate = args.jobs / elapsed
    single = statistics.median(latencies)
    print(
        f"model {model}, max_batch {args.max_batch}, finish_processes {args.finish_processes}, "
        f"CPUs {os.cpu_count()}, auth {args.auth}"
    )
    print(f"| measure | fediserver serve | {baseline} | ratio |")
    print("|---|---|---|---|")
    print(f"| {args.jobs} jobs at once, images/s | {rate:.1f} | {bare:.1f} | {rate / bare:.2f} |")
    print(
        f"| single job, POST to done, median of {args.singles} | {single * 1000:.0f} ms | {bare_single * 1000:.0f} ms "
        f"| +{(single - bare_single) * 1000:.0f} ms |"
    )
    print(f"finish() CPU per 512x512 image (C2PA on): {cpu * 1000:.0f} ms")
    print(f"cores for finish() alone at the bare rate: {cpu * bare:.1f}")
    print(f"deliveries queued: {queued} for {total_jobs} posts")
    singles = timeline[1 : 1 + args.singles]
    claimed = statistics.median(a for a, _ in singles) * 1000
    stored = statistics.median(b for _, b in singles) * 1000
    print(f"single jobs, median queued->claimed {claimed:.0f} ms, claimed->stored {stored:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=24.0, help="emulated device time per image")
    parser.add_argument("--jobs", type=int, default=32)
    parser.add_argument("--singles", type=int, default=5)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--finish-processes", type=int, default=-1)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    parser.add_argument("--keep-log", type=Path, help="copy the server's log here")
    parser.add_argument(
        "--auth", choices=("token", "basic"), default="token", help="bearer token (as apps) or HTTP Basic per request"
    )
    parser.add_argument("--model", type=Path, help="a saved diffusers pipeline folder instead of the emulated engine")
    parser.add_argument("--device", default="auto", help="generation.device for the server (and bare diffusers)")
    parser.add_argument("--steps", type=int, default=1, help="with --model: steps per image")
    parser.add_argument("--guidance", type=float, default=0.0, help="with --model: guidance scale")
    parser.add_argument("--size", type=int, default=512, help="with --model: width and height")
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
