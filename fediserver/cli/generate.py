"""``generate`` (render in this process) and ``gpu-worker`` (drain the generation queue)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fediserver import accounts, siblings
from fediserver.cli.common import CommandError, config_parent, open_session, settings_from, worker_runtime
from fediserver.config import Settings

if TYPE_CHECKING:
    from fediserver.imagegen.worker import GenerationWorker

log = logging.getLogger("fediserver.gpu")


def register(commands: Any) -> None:
    gen = commands.add_parser(
        "generate", parents=[config_parent()], help="generate an image in this process (no server needed)"
    )
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--model", help="default: generation.model")
    gen.add_argument("--seed", type=int, help="default: drawn at random, then printed")
    gen.add_argument("--steps", type=int)
    gen.add_argument("--width", type=int)
    gen.add_argument("--height", type=int)
    gen.add_argument("--out", type=Path, metavar="FILE", help="PNG file to write (default: generated-SEED.png)")
    gen.add_argument("--post-as", metavar="NAME", help="publish the image as this user and print the post's URL")
    gen.add_argument("--text", help="the post's text (default: the prompt)")
    gen.add_argument("--visibility", choices=["public", "unlisted", "followers"], default="public")
    gen.set_defaults(handler=cmd_generate)
    worker = commands.add_parser(
        "gpu-worker", parents=[config_parent()], help="run the generation worker (loads the model on first job)"
    )
    # Given by ``serve``: the read end of a pipe that ends with it (``fediserver.siblings.parent_pipe``).
    worker.add_argument("--parent-fd", type=int, help=argparse.SUPPRESS)
    worker.set_defaults(handler=cmd_gpu_worker)


def _progress(step: int, total: int) -> None:
    width = 30
    filled = int(width * step / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] step {step}/{total}")
    if step >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _render(settings: Settings, args: argparse.Namespace) -> Any:
    from fediserver.imagegen.engines import renderer_factory
    from fediserver.imagegen.jobs import build_request
    from generation.errors import GenerationError

    request = build_request(
        settings, args.prompt, seed=args.seed, model=args.model, steps=args.steps, width=args.width, height=args.height
    )
    print(f"model {request.model}, seed {request.seed}, {request.steps} steps, {request.width}x{request.height}")
    try:
        renderer = renderer_factory(settings)(request.model)
    except Exception as exc:
        raise CommandError(f"cannot load model {request.model!r}: {exc}") from None
    [outcome] = renderer.render([request], on_progress=lambda _i, step, total: _progress(step, total))
    if isinstance(outcome, GenerationError):
        raise CommandError(f"generation failed: {outcome}")
    if outcome.notice:
        print(f"note: {outcome.notice}")
    return outcome


async def _publish(settings: Settings, args: argparse.Namespace, result: Any) -> str:
    from fediserver.app import build_http_client
    from fediserver.federation.context import Federation
    from fediserver.imagegen import jobs, results
    from fediserver.media import LocalMediaStore
    from fediserver.urls import Urls

    async with open_session(settings) as session, build_http_client(settings) as http:
        actor = await accounts.get_user_actor(session, args.post_as)
        job = await jobs.enqueue(
            session,
            actor,
            result.request,
            post_text=args.text,
            visibility=args.visibility,
            state="done",
            quota=None,
        )
        fed = Federation(settings=settings, urls=Urls.from_settings(settings), http=http)
        store = LocalMediaStore(settings.media_dir)
        media = await results.store_files(store, actor, job, result)
        note = await results.publish(fed, session, store, actor, job, media)
        await session.commit()
        return note.uri


def cmd_generate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    result = _render(settings, args)
    out: Path = args.out or Path(f"generated-{result.request.seed}.png")
    out.write_bytes(result.png)
    c2pa = "signed" if result.signed else "off"
    print(f"wrote {out} ({result.width}x{result.height}, seed {result.request.seed}, C2PA {c2pa})")
    if args.post_as:
        print(asyncio.run(_publish(settings, args, result)))
    return 0


async def _gpu_worker(args: argparse.Namespace) -> int:
    from fediserver.assist.worker import AssistWorker, engine_factory
    from fediserver.imagegen.engines import build_finisher, instance_certificates, renderer_factory
    from fediserver.imagegen.worker import GenerationWorker
    from fediserver.jobs import doorbell
    from fediserver.media import LocalMediaStore

    async with worker_runtime(args) as rt:
        if args.parent_fd is not None:
            loop = asyncio.get_running_loop()
            siblings.watch_parent(args.parent_fd, functools.partial(loop.call_soon_threadsafe, rt.stop.set))
        # Enqueueing rings it (issue 13): a job starts now, not at the next poll.
        bell = await doorbell.Doorbell.open(rt.engine, [doorbell.GENERATION, doorbell.ASSIST])
        certificates = instance_certificates(rt.settings)
        # The encoding pool starts before any model loads: its processes never inherit torch.
        finisher = build_finisher(rt.settings, certificates)
        try:
            worker = GenerationWorker(
                rt.fed,
                rt.sessions,
                LocalMediaStore(rt.settings.media_dir),
                renderer_factory(rt.settings, certificates),
                max_batch=rt.settings.generation.max_batch,
                poll_interval=rt.settings.worker.poll_interval,
                max_attempts=rt.settings.generation.max_attempts,
                finisher=finisher,
                wake=bell.event(doorbell.GENERATION),
            )
            if rt.settings.generation.compile and rt.settings.generation.enabled:
                await _warm_up(worker, rt.settings.generation.model)
            # Writing help shares the render thread: one thread touches the accelerator (docs/assist.md §5).
            assist = AssistWorker(
                rt.sessions,
                engine_factory(rt.settings),
                worker.executor,
                poll_interval=rt.settings.worker.poll_interval,
                max_attempts=rt.settings.generation.max_attempts,
                wake=bell.event(doorbell.ASSIST),
            )
            await asyncio.gather(worker.run(rt.stop), assist.run(rt.stop))
        finally:
            await bell.close()
            if finisher is not None:
                finisher.close()
    return 0


async def _warm_up(worker: GenerationWorker, model: str) -> None:
    """Load and trace ``model`` before the first claim, on the render thread that will own it, so the first
    jobs do not wait minutes for torch.compile (issue 14). A model that cannot load is logged and the
    worker starts anyway: its jobs then fail with the reason, as without compile, instead of the worker
    dying at start and being restarted in a loop."""
    try:
        await asyncio.get_running_loop().run_in_executor(worker.executor, worker.renderer_for, model)
    except Exception:
        log.exception("warming up the generation model failed; its jobs will fail with the reason")


def cmd_gpu_worker(args: argparse.Namespace) -> int:
    return asyncio.run(_gpu_worker(args))
