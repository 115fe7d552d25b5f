"""Benchmark the generation engine with the tiny model on the CPU.

Measures, in one process and interleaved round by round so that machine noise hits every variant:

1. throughput of one batch of 4 vs 4 solo calls (``DiffusersEngine.generate``);
2. per-image time of a bare diffusers call vs our full path (``Renderer.render``: engine call, PNG,
   WebP, thumbnail, XMP, blurhash, and C2PA signing of PNG and WebP), plus the same without signing.

Usage, from the repository root (``-m`` puts the checkout first on sys.path)::

    HF_HUB_OFFLINE=1 python -m bench.bench_generation [--rounds 15] [--steps 2] [--size 64]

Prints a Markdown table. Uses one torch thread: on a shared 2-core machine two threads make step
times jump by 10x.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image


def _noise(side: int) -> Image.Image:
    """Random pixels: the worst case for PNG and WebP compression."""
    return Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--guidance", type=float, default=0.0)
    args = parser.parse_args()

    import diffusers
    import torch

    from generation.backend import load_engine
    from generation.output import finish
    from generation.presets import resolve_request
    from generation.provenance import ContentSigner, create_instance_certificates
    from generation.renderer import Renderer
    from generation.types import GenerationRequest

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as cache:
        engine = load_engine("tiny", cache_dir=Path(cache), device="cpu")
        signer = ContentSigner(create_instance_certificates("bench.example"))
        signed, unsigned = Renderer(engine, signer=signer), Renderer(engine)
        pipe = engine.pipeline

        def request(seed: int) -> GenerationRequest:
            return resolve_request(
                f"a lighthouse at dusk {seed}",
                seed=seed,
                model="tiny",
                steps=args.steps,
                guidance=args.guidance,
                width=args.size,
                height=args.size,
            )

        requests = [request(seed) for seed in range(4)]

        def bare() -> None:
            pipe(
                "a lighthouse at dusk 0",
                num_inference_steps=args.steps,
                guidance_scale=args.guidance,
                width=args.size,
                height=args.size,
                generator=torch.Generator("cpu").manual_seed(0),
                output_type="pil",
            )

        variants: dict[str, Callable[[], object]] = {
            "batch4": lambda: engine.generate(requests),
            "solo4": lambda: [engine.generate([r]) for r in requests],
            "bare": bare,
            "engine1": lambda: engine.generate(requests[:1]),
            "ours_unsigned": lambda: unsigned.render(requests[:1]),
            "ours_signed": lambda: signed.render(requests[:1]),
        }
        noise = {side: _noise(side) for side in (512, 1024)}
        software = engine.software()

        def finisher(image: Image.Image) -> Callable[[], object]:
            return lambda: finish(image, requests[0], signer=signer, software=software)

        for side, image in noise.items():
            variants[f"finish{side}"] = finisher(image)
        for run in variants.values():  # warm-up: first calls allocate and fill caches
            run()
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, run in variants.items():
                started = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - started)

    ms = {name: _median_ms(samples) for name, samples in times.items()}
    print(
        f"tiny model, CPU, 1 torch thread, {args.size}x{args.size}, {args.steps} steps, "
        f"guidance {args.guidance}, median of {args.rounds} interleaved rounds; "
        f"torch {torch.__version__}, diffusers {diffusers.__version__}, Python {platform.python_version()}\n"
    )
    print("| measurement | median |")
    print("|---|---|")
    print(f"| 4 solo `engine.generate` calls | {ms['solo4']:.1f} ms |")
    print(f"| 1 batched `engine.generate` call of 4 | {ms['batch4']:.1f} ms |")
    print(f"| **batch-of-4 throughput gain** (solo4 / batch4) | **{ms['solo4'] / ms['batch4']:.2f}x** |")
    print(f"| bare diffusers call, 1 image | {ms['bare']:.1f} ms |")
    print(f"| `Renderer.render`, 1 image, no C2PA | {ms['ours_unsigned']:.1f} ms |")
    print(f"| `Renderer.render`, 1 image, C2PA on PNG + WebP | {ms['ours_signed']:.1f} ms |")
    print(f"| **our overhead, signed** (ours / bare) | **{ms['ours_signed'] / ms['bare']:.2f}x** |")
    print(f"| our overhead, unsigned (ours / bare) | {ms['ours_unsigned'] / ms['bare']:.2f}x |")
    print(f"| `engine.generate`, 1 image (no encoding) | {ms['engine1']:.1f} ms |")
    for side in (512, 1024):
        print(f"| `finish()` alone, signed, {side}x{side} random-noise image | {ms[f'finish{side}']:.1f} ms |")


if __name__ == "__main__":
    main()
