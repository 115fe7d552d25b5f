"""Benchmark our whole generation path against a bare diffusers call, with the tiny model on the CPU.

"Ours" is the server's path: a ``GenerationJob`` row committed by ``jobs.enqueue``, then
``GenerationWorker.claim_batch`` + ``run_batch`` (render on the worker thread with the heartbeat
task running, ``finish()``: PNG, WebP, thumbnail, XMP, blurhash, C2PA signing of PNG and WebP, then
the media files stored, the Note created and one delivery queued to a remote follower, all
committed). The clock starts after the enqueue commit and stops when ``run_batch`` returns, i.e. the
job is ``done`` with its post and delivery in the database. The worker is driven directly (as its
``run`` loop does while the queue is not empty); the idle poll delay is measured separately.

"Bare" is ``engine.pipeline(...)``: the diffusers pipeline called with the same prompt, seed, steps,
size and guidance and a seeded CPU generator, returning a PIL image.

Cases, each interleaved round by round (bare, ours, bare, ours...) in one process:

1. the tiny model at its defaults (64x64, 2 steps): absolute overhead in ms;
2. the same tiny pipeline at 256x256, 3 steps, where one bare call takes 1.1-1.8 s on this CPU: it
   emulates the render time of a model that takes 1 s or more per image (real weights cannot be
   loaded here); target: ours / bare at most 1.05;
3. a batch of 4 jobs vs 4 solo jobs through our path (64x64), with the bare equivalents for reference.

Usage, from the repository root::

    HF_HUB_OFFLINE=1 python -m bench.bench_pipeline [--rounds-small 30] [--rounds-large 20] [--rounds-batch 12]

Prints Markdown tables. Uses one torch thread: on a shared 2-core machine two threads make step
times jump by 10x.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from PIL import Image
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from fediserver.config import Settings
    from fediserver.imagegen.worker import GenerationWorker
    from generation._torch.engine import DiffusersEngine
    from generation.types import GenerationRequest

T = TypeVar("T")
PROMPT = "a lighthouse at dusk"
FOLLOWER = "https://remote.example/users/bob"


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


class Phases:
    """Per-sample durations of the parts of ``run_batch``, collected by wrappers while ``active``."""

    def __init__(self) -> None:
        self.active = False
        self.current: dict[str, float] = {}
        self.samples: dict[str, list[float]] = {}

    def wrap(self, name: str, fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> T:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - started)

        return timed

    def wrap_async(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - started)

        return timed

    def add(self, name: str, seconds: float) -> None:
        if self.active:
            self.current[name] = self.current.get(name, 0.0) + seconds

    @contextmanager
    def sample(self, label: str) -> Iterator[dict[str, float]]:
        self.current, self.active = {}, True
        try:
            yield self.current
        finally:
            self.active = False
            for name, seconds in self.current.items():
                self.samples.setdefault(f"{label}:{name}", []).append(seconds)


class Bench:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        worker: GenerationWorker,
        engine: DiffusersEngine,
        phases: Phases,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.worker = worker
        self.engine = engine
        self.phases = phases

    def request(self, seed: int, size: int, steps: int) -> GenerationRequest:
        from fediserver.imagegen import jobs

        return jobs.build_request(self.settings, PROMPT, seed=seed, width=size, height=size, steps=steps)

    def bare(self, requests: list[GenerationRequest]) -> list[Image.Image]:
        """The diffusers pipeline itself, all ``requests`` in one call (same size, steps, guidance)."""
        import torch

        first = requests[0]
        output = self.engine.pipeline(
            prompt=[r.prompt for r in requests],
            num_inference_steps=first.steps,
            guidance_scale=first.guidance,
            width=first.width,
            height=first.height,
            generator=[torch.Generator("cpu").manual_seed(r.seed) for r in requests],
            output_type="pil",
        )
        return list(output.images)

    async def enqueue(self, requests: list[GenerationRequest]) -> list[int]:
        from fediserver import accounts
        from fediserver.imagegen import jobs

        async with self.sessions() as session:
            actor = await accounts.get_user_actor(session, "alice")
            queued = [
                await jobs.enqueue(session, actor, r, post_text="from the benchmark", visibility="public", quota=None)
                for r in requests
            ]
            await session.commit()
            return [job.id for job in queued]

    async def ours(self, requests: list[GenerationRequest], label: str) -> float:
        """Enqueue ``requests`` (one commit), then time until the worker has them all done and posted."""
        ids = await self.enqueue(requests)
        with self.phases.sample(label) as phase:
            started = time.perf_counter()
            batch = await self.worker.claim_batch()
            claimed = time.perf_counter()
            await self.worker.run_batch(batch)
            elapsed = time.perf_counter() - started
            phase["claim_batch"] = claimed - started
            phase["total"] = elapsed
        assert sorted(j.id for j in batch) == sorted(ids), "the batch holds exactly the jobs just queued"
        await self.check_done(ids)
        return elapsed

    async def check_done(self, ids: list[int]) -> None:
        from sqlalchemy import func, select

        from fediserver.models import DeliveryJob, GenerationJob, Note

        async with self.sessions() as session:
            states = list(await session.scalars(select(GenerationJob.state).where(GenerationJob.id.in_(ids))))
            notes = await session.scalar(select(func.count(Note.id)).where(Note.generation_job_id.in_(ids)))
            deliveries = await session.scalar(select(func.count(DeliveryJob.id)))
        assert states == ["done"] * len(ids), states
        assert notes == len(ids)
        assert deliveries, "a Create was queued for the follower"


async def _setup_database(settings: Settings) -> Any:
    from fediserver import accounts, migrate
    from fediserver.db import make_engine
    from fediserver.models import Follow, RemoteActor
    from fediserver.urls import Urls

    db = make_engine(settings.database_url)
    await migrate.upgrade(db)
    from fediserver.db import session_factory

    sessions = session_factory(db)
    async with sessions() as session:
        await accounts.create_user(session, "alice", "alice-password")
        session.add(
            RemoteActor(
                uri=FOLLOWER,
                domain="remote.example",
                preferred_username="bob",
                inbox=f"{FOLLOWER}/inbox",
                shared_inbox="https://remote.example/inbox",
                raw={"id": FOLLOWER, "type": "Person"},
            )
        )
        session.add(
            Follow(
                activity_uri=f"{FOLLOWER}#follows/1",
                follower_uri=FOLLOWER,
                followed_uri=Urls.from_settings(settings).actor("alice"),
                state="accepted",
            )
        )
        await session.commit()
    return db, sessions


def _finish_parts(image: Image.Image, request: GenerationRequest, engine: DiffusersEngine, rounds: int) -> str:
    """Median time of each step of ``finish()`` on one rendered image, as a Markdown fragment."""
    from generation import images
    from generation.provenance import ContentSigner, create_instance_certificates, manifest_definition

    signer = ContentSigner(create_instance_certificates("bench.example"))
    software = engine.software()
    rgb = image.convert("RGB")
    xmp = images.xmp_packet("AI-generated image", "fediserver")
    parameters = request.parameters()
    png = images.encode_png(rgb, xmp, parameters)
    webp = images.encode_webp(rgb, xmp)
    parts: dict[str, Callable[[], object]] = {
        "PNG encode": lambda: images.encode_png(rgb, xmp, parameters),
        "WebP encode (q90)": lambda: images.encode_webp(rgb, xmp),
        "thumbnail (WebP q80)": lambda: images.thumbnail(rgb, xmp),
        "blurhash": lambda: images.blurhash_of(rgb),
        "C2PA sign PNG": lambda: signer.sign(png, "image/png", manifest_definition("g.png", parameters, software)),
        "C2PA sign WebP": lambda: signer.sign(webp, "image/webp", manifest_definition("g.webp", parameters, software)),
    }
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(rounds):
        for name, part in parts.items():
            started = time.perf_counter()
            part()
            times[name].append(time.perf_counter() - started)
    return ", ".join(f"{name} {_median_ms(samples):.1f} ms" for name, samples in times.items())


async def _idle_pickup(bench: Bench, samples: int, poll_interval: float) -> list[float]:
    """Enqueue while ``GenerationWorker.run`` idles in its poll sleep: commit -> done, 64x64 jobs.

    Runs last: ``run`` shuts the worker's thread down when it stops.
    """
    worker = bench.worker
    finished: asyncio.Queue[float] = asyncio.Queue()
    record = worker._record

    async def recording(job_id: int, outcome: Any) -> None:
        await record(job_id, outcome)
        finished.put_nowait(time.perf_counter())

    worker._record = recording  # type: ignore[method-assign]
    worker.poll_interval = poll_interval
    stop = asyncio.Event()
    loop_task = asyncio.create_task(worker.run(stop))
    waits = []
    try:
        for seed in range(samples):
            await asyncio.sleep(0.37 * worker.poll_interval)  # land at varying points of the poll sleep
            await bench.enqueue([bench.request(seed, 64, 2)])
            started = time.perf_counter()
            waits.append(await finished.get() - started)
    finally:
        stop.set()
        await loop_task
    return waits


async def run(args: argparse.Namespace) -> None:
    import diffusers
    import httpx
    import torch

    import generation.output
    import generation.renderer
    from fediserver.config import parse_settings
    from fediserver.federation.context import Federation
    from fediserver.imagegen.engines import renderer_factory
    from fediserver.imagegen.worker import HEARTBEAT, GenerationWorker
    from fediserver.media import LocalMediaStore
    from fediserver.urls import Urls

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        settings = parse_settings(
            {
                "instance": {"domain": "bench.example", "scheme": "https", "secret_key": "bench-" + "x" * 40},
                "database": {"url": f"sqlite+aiosqlite:///{base / 'bench.db'}"},
                "media": {"directory": str(base / "media")},
                "generation": {"model": "tiny", "device": "cpu", "cache_dir": str(base / "models")},
            },
            {},
            base,
        )
        assert settings.generation.c2pa, "C2PA signing is on by default"
        db, sessions = await _setup_database(settings)
        phases = Phases()
        # Renderer calls the ``finish`` it imported: time it there.
        vars(generation.renderer)["finish_drawn"] = phases.wrap("finish", generation.output.finish_drawn)
        try:
            async with httpx.AsyncClient() as http:
                fed = Federation(settings=settings, urls=Urls.from_settings(settings), http=http)
                renderer_for = renderer_factory(settings)
                worker = GenerationWorker(
                    fed,
                    sessions,
                    LocalMediaStore(settings.media_dir),
                    renderer_for,
                    max_batch=settings.generation.max_batch,
                    poll_interval=settings.worker.poll_interval,
                )
                renderer = renderer_for("tiny")
                engine = cast("DiffusersEngine", renderer.engine)
                engine.generate = phases.wrap("engine.generate", engine.generate)  # type: ignore[method-assign]
                worker._record = phases.wrap_async("_record", worker._record)  # type: ignore[method-assign]
                bench = Bench(settings, sessions, worker, engine, phases)
                report = await _measure(bench, args)
                idle_poll = args.idle_poll if args.idle_poll is not None else settings.worker.poll_interval
                idle = await _idle_pickup(bench, args.idle_samples, idle_poll)
        finally:
            vars(generation.renderer)["finish_drawn"] = generation.output.finish_drawn
            await db.dispose()

    print(
        f"tiny model (random weights), CPU, 1 torch thread, guidance 0, C2PA on, SQLite; "
        f"torch {torch.__version__}, diffusers {diffusers.__version__}, Python {platform.python_version()}; "
        f"heartbeat {HEARTBEAT} s, poll_interval {settings.worker.poll_interval} s\n"
    )
    print(report)
    print(
        f"\nidle worker (`GenerationWorker.run`, poll_interval {idle_poll} s), 64x64: "
        f"enqueue commit -> done, {len(idle)} samples: median {_median_ms(idle):.0f} ms, "
        f"min {min(idle) * 1000:.0f} ms, max {max(idle) * 1000:.0f} ms"
    )


async def _measure(bench: Bench, args: argparse.Namespace) -> str:
    lines = [
        "| case | bare (median) | ours (median) | overhead: difference of medians (median of round differences) "
        "| ours / bare |",
        "|---|---|---|---|---|",
    ]
    breakdown: list[str] = []
    large = f"≥1 s emulation {args.large_size}x{args.large_size}, {args.large_steps} steps"
    cases = [
        ("tiny 64x64, 2 steps", 64, 2, args.rounds_small),
        (large, args.large_size, args.large_steps, args.rounds_large),
    ]
    for label, size, steps, rounds in cases:
        warm = bench.request(10_000, size, steps)
        bench.bare([warm])
        await bench.ours([warm], "warm-up")
        bare: list[float] = []
        ours: list[float] = []
        for seed in range(rounds):
            request = bench.request(seed, size, steps)
            started = time.perf_counter()
            bench.bare([request])
            bare.append(time.perf_counter() - started)
            ours.append(await bench.ours([request], label))
        b, o = _median_ms(bare), _median_ms(ours)
        paired = _median_ms([mine - theirs for mine, theirs in zip(ours, bare, strict=True)])
        verdict = ""
        if size != 64:
            verdict = " (target ≤ 1.05: " + ("met" if o / b <= 1.05 else "NOT met") + ")"
        lines.append(
            f"| {label}, {rounds} rounds | {b:.1f} ms | {o:.1f} ms | +{o - b:.1f} ms (paired: +{paired:.1f} ms) "
            f"| {o / b:.3f}{verdict} |"
        )
        parts = {
            name.split(":", 1)[1]: _median_ms(samples)
            for name, samples in bench.phases.samples.items()
            if name.startswith(f"{label}:")
        }
        rest = parts["total"] - sum(v for k, v in parts.items() if k != "total")
        order = ["claim_batch", "engine.generate", "finish", "_record"]
        breakdown.append(
            f"- {label}: " + ", ".join(f"{k} {parts[k]:.1f} ms" for k in order) + f", rest of run_batch {rest:.1f} ms"
        )
        image = bench.bare([warm])[0]
        breakdown.append(f"  - `finish()` steps on this image: {_finish_parts(image, warm, bench.engine, 10)}")

    # finish() alone on 512x512 random noise (the worst case for PNG and WebP): the size of real SD renders,
    # which the tiny pipeline cannot reach in a bounded run here.
    from PIL import Image as PILImage

    from generation.output import finish

    noise = PILImage.frombytes("RGB", (512, 512), os.urandom(512 * 512 * 3))
    signer = bench.worker.renderer_for("tiny").signer
    software = bench.engine.software()
    finish(noise, warm, signer=signer, software=software)
    noise_times = []
    for _ in range(10):
        started = time.perf_counter()
        finish(noise, warm, signer=signer, software=software)
        noise_times.append(time.perf_counter() - started)
    breakdown.append(f"- `finish()` alone, signed, 512x512 random noise: {_median_ms(noise_times):.1f} ms")

    # Batch of 4 vs 4 solo through the whole path, and the bare equivalents, interleaved.
    size, steps = 64, 2
    times: dict[str, list[float]] = {"ours_solo4": [], "ours_batch4": [], "bare_solo4": [], "bare_batch4": []}
    for round_ in range(args.rounds_batch + 1):
        requests = [bench.request(100 * round_ + i, size, steps) for i in range(4)]
        solo = 0.0
        for request in requests:
            solo += await bench.ours([request], "solo")
        batch = await bench.ours(requests, "batch")
        started = time.perf_counter()
        for request in requests:
            bench.bare([request])
        bare_solo = time.perf_counter() - started
        started = time.perf_counter()
        bench.bare(requests)
        bare_batch = time.perf_counter() - started
        if round_ == 0:
            continue  # warm-up
        for name, value in zip(times, (solo, batch, bare_solo, bare_batch), strict=True):
            times[name].append(value)
    ms = {name: _median_ms(samples) for name, samples in times.items()}
    lines += [
        "",
        f"| batch of 4 vs 4 solo, {size}x{size}, {steps} steps, {args.rounds_batch} rounds "
        "| 4 solo | batch of 4 | gain |",
        "|---|---|---|---|",
        f"| ours (enqueue commit -> done + posted) | {ms['ours_solo4']:.1f} ms | {ms['ours_batch4']:.1f} ms "
        f"| {ms['ours_solo4'] / ms['ours_batch4']:.2f}x |",
        f"| bare diffusers | {ms['bare_solo4']:.1f} ms | {ms['bare_batch4']:.1f} ms "
        f"| {ms['bare_solo4'] / ms['bare_batch4']:.2f}x |",
        "",
        "Where our time goes (medians per sample; rest = thread hand-off, heartbeat join, other):",
        *breakdown,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds-small", type=int, default=30)
    parser.add_argument("--rounds-large", type=int, default=20)
    parser.add_argument("--rounds-batch", type=int, default=12)
    parser.add_argument("--large-size", type=int, default=256)
    parser.add_argument("--large-steps", type=int, default=3)
    parser.add_argument("--idle-samples", type=int, default=6)
    parser.add_argument("--idle-poll", type=float, default=None, help="poll_interval for the idle case (config's)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
