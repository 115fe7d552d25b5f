"""Images/s of bare diffusers against our Renderer path, per architecture, batch size and torch.compile.

The architectures are built offline from their configs with random weights (the timing of a forward
pass does not depend on the weights): SD-Turbo (the SD 2.1 UNet at 512x512, OpenCLIP-H text encoder),
SDXL-Turbo (SDXL UNet, CLIP-L + OpenCLIP-bigG) and FLUX.1-schnell (12 B transformer, CLIP-L + T5-XXL),
all with the project's byte-level CLIP tokenizer (generation/_torch/tiny.py); FLUX uses it for T5 too.

- bare: ``pipeline(prompt=[...] * b, num_inference_steps=steps, output_type="pil")``, one call per batch;
- ours: ``Renderer.draw`` (8-bit conversion on the device, one copy) on this thread while a
  :class:`~generation.finishing.Finisher` pool (cores - 1 processes) runs ``finish()`` (PNG, WebP,
  thumbnail, XMP, blurhash, C2PA) for the batch before, as the GPU worker does; the clock stops when
  the last image is signed. Batch 1 also reports the latency of one image, draw + finish.
- compile on: ``torch.compile`` of the denoiser and the VAE decoder (mode ``--compile-mode``), warmed
  on every batch size before timing, so timing never includes a recompile (each batch size is its own
  shape bucket, ``dynamic=False``).

On a GPU (one H200 should finish the default set in under 5 minutes; ``--budget-s`` skips what does
not fit and says so)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_gpu.py --device cuda

Dry run on the CPU with tiny configs of the same classes, torch.compile with the ``eager`` backend
(graph capture per shape bucket without inductor's C++ build) only when asked with ``--compile off,on``
(minutes here); by default the dry run has compile off and batches up to 4, well under a minute::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_gpu.py --dry-run
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROMPT = "a lighthouse on a cliff at dusk, photograph"


@dataclass(frozen=True)
class Arch:
    name: str
    build: Callable[[bool], Any]
    size: int
    steps: int
    batches: tuple[int, ...]


def _tokenizer(max_length: int = 77) -> Any:
    from transformers import CLIPTokenizer

    from generation._torch.tiny import BOS, EOS, _write_tokenizer_files

    with tempfile.TemporaryDirectory() as tok_dir:
        _write_tokenizer_files(Path(tok_dir))
        return CLIPTokenizer.from_pretrained(
            tok_dir, model_max_length=max_length, bos_token=BOS, eos_token=EOS, unk_token=EOS, pad_token=EOS
        )


def _clip(hidden: int, layers: int, heads: int, inner: int, act: str, projection: int | None = None) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        bos_token_id=512,
        eos_token_id=513,
        pad_token_id=513,
        hidden_size=hidden,
        intermediate_size=inner,
        num_attention_heads=heads,
        num_hidden_layers=layers,
        hidden_act=act,
        projection_dim=projection or hidden,
        vocab_size=49408 if hidden >= 512 else 1000,
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def _vae(tiny: bool, *, latent: int = 4, flux: bool = False) -> Any:
    from diffusers import AutoencoderKL

    blocks = (4, 8) if tiny else (128, 256, 512, 512)
    options: dict[str, Any] = {}
    if flux:
        options = {
            "scaling_factor": 0.3611,
            "shift_factor": 0.1159,
            "use_quant_conv": False,
            "use_post_quant_conv": False,
        }
    return AutoencoderKL(  # type: ignore[no-untyped-call]
        block_out_channels=blocks,
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * len(blocks),
        up_block_types=["UpDecoderBlock2D"] * len(blocks),
        latent_channels=latent,
        layers_per_block=1 if tiny else 2,
        norm_num_groups=2 if tiny else 32,
        **options,
    )


def build_sd_turbo(tiny: bool) -> Any:
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel

    if tiny:
        unet = UNet2DConditionModel(  # type: ignore[no-untyped-call]
            block_out_channels=(4, 8),
            layers_per_block=1,
            sample_size=32,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=8,
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            norm_num_groups=2,
        )
        text = _clip(8, 2, 2, 16, "gelu")
    else:
        # stabilityai/sd-turbo unet/config.json (the SD 2.1 UNet) and text_encoder/config.json (OpenCLIP-H).
        unet = UNet2DConditionModel(  # type: ignore[no-untyped-call]
            sample_size=64,
            block_out_channels=(320, 640, 1280, 1280),
            attention_head_dim=(5, 10, 20, 20),
            cross_attention_dim=1024,
            use_linear_projection=True,
            layers_per_block=2,
        )
        text = _clip(1024, 23, 16, 4096, "gelu")
    scheduler = EulerDiscreteScheduler(  # type: ignore[no-untyped-call]
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1
    )
    return StableDiffusionPipeline(  # type: ignore[no-untyped-call]
        vae=_vae(tiny),
        text_encoder=text,
        tokenizer=_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )


def build_sdxl_turbo(tiny: bool) -> Any:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    if tiny:
        unet = UNet2DConditionModel(  # type: ignore[no-untyped-call]
            block_out_channels=(8, 16),
            layers_per_block=1,
            sample_size=32,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            transformer_layers_per_block=(1, 2),
            projection_class_embeddings_input_dim=8 + 6 * 8,
            cross_attention_dim=16,
            norm_num_groups=2,
        )
        text, text_2 = _clip(8, 2, 2, 16, "quick_gelu"), _clip(8, 2, 2, 16, "gelu", projection=8)
    else:
        # stabilityai/sdxl-turbo unet/config.json; text encoders CLIP-L and OpenCLIP-bigG (with projection).
        unet = UNet2DConditionModel(  # type: ignore[no-untyped-call]
            sample_size=64,
            block_out_channels=(320, 640, 1280),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(5, 10, 20),
            transformer_layers_per_block=(1, 2, 10),
            cross_attention_dim=2048,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,
            layers_per_block=2,
        )
        text, text_2 = _clip(768, 12, 12, 3072, "quick_gelu"), _clip(1280, 32, 20, 5120, "gelu", projection=1280)
    scheduler = EulerDiscreteScheduler(  # type: ignore[no-untyped-call]
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing", steps_offset=1
    )
    return StableDiffusionXLPipeline(  # type: ignore[no-untyped-call]
        vae=_vae(tiny),
        text_encoder=text,
        text_encoder_2=text_2,
        tokenizer=_tokenizer(),
        tokenizer_2=_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
    )


def build_flux_schnell(tiny: bool) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import T5Config, T5EncoderModel

    if tiny:
        transformer = FluxTransformer2DModel(  # type: ignore[no-untyped-call]
            patch_size=1,
            in_channels=4,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            pooled_projection_dim=8,
            axes_dims_rope=(4, 4, 8),
        )
        t5 = T5Config(d_model=32, d_ff=37, d_kv=8, num_heads=4, num_layers=2, vocab_size=1000)
        text, vae = _clip(8, 2, 2, 16, "quick_gelu"), _vae(True, latent=1, flux=True)
    else:
        # black-forest-labs/FLUX.1-schnell transformer/config.json; text_encoder_2 is T5-v1.1-XXL.
        transformer = FluxTransformer2DModel(  # type: ignore[no-untyped-call]
            patch_size=1,
            in_channels=64,
            num_layers=19,
            num_single_layers=38,
            attention_head_dim=128,
            num_attention_heads=24,
            joint_attention_dim=4096,
            pooled_projection_dim=768,
            guidance_embeds=False,
            axes_dims_rope=(16, 56, 56),
        )
        t5 = T5Config(
            d_model=4096,
            d_ff=10240,
            d_kv=64,
            num_heads=64,
            num_layers=24,
            vocab_size=32128,
            feed_forward_proj="gated-gelu",
        )
        text, vae = _clip(768, 12, 12, 3072, "quick_gelu"), _vae(False, latent=16, flux=True)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)  # type: ignore[no-untyped-call]
    return FluxPipeline(  # type: ignore[no-untyped-call]
        scheduler=scheduler,
        vae=vae,
        text_encoder=text,
        tokenizer=_tokenizer(),
        text_encoder_2=T5EncoderModel(t5),
        tokenizer_2=_tokenizer(256),
        transformer=transformer,
    )


ARCHS = {
    "sd-turbo": Arch("sd-turbo", build_sd_turbo, 512, 1, (1, 4, 8, 16)),
    "sdxl-turbo": Arch("sdxl-turbo", build_sdxl_turbo, 512, 1, (1, 4, 8)),
    "flux-schnell": Arch("flux-schnell", build_flux_schnell, 512, 4, (1, 4)),
}


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds

    def left(self) -> float:
        return self.deadline - time.perf_counter()


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _build(arch: Arch, tiny: bool, device: str, dtype: Any) -> Any:
    import torch

    # Random weights: initialise on the device (seconds for 12 B parameters instead of minutes on CPU).
    with torch.device(device):
        pipeline = arch.build(tiny)
    pipeline.to(device, dtype)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def run_arch(arch: Arch, args: argparse.Namespace, budget: Budget, finisher: Any, rows: list[list[str]]) -> None:
    import torch

    from generation._torch.device import choose_dtype
    from generation._torch.engine import DiffusersEngine
    from generation.presets import PRESETS, resolve_request
    from generation.renderer import Renderer

    size = 64 if args.tiny else arch.size
    dtype = choose_dtype(args.device, args.dtype, half_precision_ok=PRESETS[arch.name].half_precision_ok)
    batches = tuple(b for b in arch.batches if b <= args.max_batch)
    started = time.perf_counter()
    pipeline = _build(arch, args.tiny, args.device, dtype)
    print(f"# {arch.name}: built in {time.perf_counter() - started:.1f} s ({dtype}, {size}x{size})", flush=True)
    engine = DiffusersEngine(pipeline, model=arch.name, device=args.device, dtype=dtype)
    renderer = Renderer(engine, None, max_batch=max(batches))
    options = dict(PRESETS[arch.name].call_options)

    def bare(batch: int) -> None:
        generator = [torch.Generator("cpu").manual_seed(i) for i in range(batch)]
        pipeline(
            prompt=[PROMPT] * batch,
            num_inference_steps=arch.steps,
            guidance_scale=0.0,
            width=size,
            height=size,
            generator=generator,
            output_type="pil",
            **options,
        )
        _sync(args.device)

    def requests(batch: int, offset: int) -> list[Any]:
        return [
            resolve_request(PROMPT, seed=offset + i, model=arch.name, steps=arch.steps, width=size, height=size)
            for i in range(batch)
        ]

    def ours(batch: int, rounds: int) -> float:
        """Images/s with the next batch drawn while the pool finishes the last one."""
        futures = []
        t0 = time.perf_counter()
        for r in range(rounds):
            for drawn in renderer.draw(requests(batch, r * batch)):
                if isinstance(drawn, Exception):
                    raise drawn
                futures.append(finisher.submit(drawn))
        for future in futures:
            outcome = future.result()
            if isinstance(outcome, Exception):
                raise outcome
        return batch * rounds / (time.perf_counter() - t0)

    def single_latency() -> float:
        t0 = time.perf_counter()
        [drawn] = renderer.draw(requests(1, 0))
        if isinstance(drawn, Exception):
            raise drawn
        finisher.submit(drawn).result()
        return time.perf_counter() - t0

    for compiled in args.compile:
        if compiled == "on":
            if budget.left() < 60:
                rows.append([arch.name, "on", *["skipped (time budget)"] * 2])
                continue
            from generation._torch.engine import compile_pipeline  # the GPU worker's own (generation.compile)

            compile_pipeline(pipeline, args.compile_mode, args.compile_backend)
        warm = time.perf_counter()
        for batch in batches:  # compiles every shape bucket before anything is timed
            bare(batch)
            renderer.draw(requests(batch, 0))
        print(f"# {arch.name} compile {compiled}: warm-up {time.perf_counter() - warm:.1f} s", flush=True)
        bare_rates, our_rates = [], []
        for batch in batches:
            if budget.left() < 5:
                bare_rates.append("skipped")
                our_rates.append("skipped")
                continue
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                bare(batch)
                times.append(time.perf_counter() - t0)
            bare_rates.append(f"{batch / statistics.median(times):.1f}")
            ours(batch, 1)  # fills the pool's pipeline
            our_rates.append(f"{ours(batch, args.rounds):.1f}")
        latency = statistics.median(single_latency() for _ in range(args.rounds))
        pad = ["–"] * (4 - len(batches))
        rows.append([arch.name, compiled, "bare `pipeline(...)`", *bare_rates, *pad, ""])
        rows.append([arch.name, compiled, "our `Renderer` + pool", *our_rates, *pad, f"{latency * 1000:.0f} ms"])


def save_pipeline(arch: Arch, args: argparse.Namespace) -> None:
    """Build ``arch`` with random weights on ``args.device`` and save it where ``generation.model`` can name it."""
    from generation._torch.device import choose_dtype
    from generation.presets import PRESETS

    dtype = choose_dtype(args.device, args.dtype, half_precision_ok=PRESETS[arch.name].half_precision_ok)
    started = time.perf_counter()
    pipeline = _build(arch, args.tiny, args.device, dtype)
    pipeline.save_pretrained(args.save_pipeline)
    print(f"# {arch.name}: built and saved to {args.save_pipeline} in {time.perf_counter() - started:.1f} s ({dtype})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--tiny", action="store_true", help="tiny configs of the same classes (CPU dry run)")
    parser.add_argument("--dry-run", action="store_true", help="same as --device cpu --tiny")
    parser.add_argument("--models", default="sd-turbo,sdxl-turbo,flux-schnell")
    parser.add_argument("--compile", help="off, on, or off,on (default: off,on; off for --dry-run)")
    parser.add_argument("--compile-mode", default="default")
    parser.add_argument(
        "--compile-backend", default="inductor", help="the dry run uses eager: graph capture without C++ codegen"
    )
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--finish-processes", type=int, default=-1, help="-1: cores - 1")
    parser.add_argument("--budget-s", type=float, default=290.0)
    parser.add_argument(
        "--save-pipeline",
        type=Path,
        help="build the first of --models (random weights) and save it here as a diffusers folder, then stop: "
        "the model `bench_gpu_worker.py --model` serves through `fediserver serve`",
    )
    args = parser.parse_args()
    args.compile_given = args.compile is not None
    args.compile = args.compile or "off,on"
    if args.dry_run:
        # Inductor's C++ code generation takes minutes on a small CPU; eager still traces every shape.
        # Dynamo's tracing alone took 190 s for four shapes of the tiny UNet here, so the dry run leaves
        # compile off unless asked (--compile off,on) and stops at batch 4.
        args.device, args.tiny, args.compile_backend = "cpu", True, "eager"
        args.compile = args.compile if args.compile_given else "off"
        args.max_batch = min(args.max_batch, 4)
        args.rounds = min(args.rounds, 2)
    args.compile = args.compile.split(",")
    if args.save_pipeline is not None:
        save_pipeline(ARCHS[args.models.split(",")[0]], args)
        return
    budget = Budget(args.budget_s)

    # The pool starts before torch is imported: its processes never carry torch's threads or CUDA.
    from generation.finishing import Finisher, default_processes
    from generation.provenance import create_instance_certificates

    processes = default_processes() if args.finish_processes == -1 else args.finish_processes
    finisher = Finisher(processes, certificates=create_instance_certificates("bench.test"))
    finisher.warm_up()
    import torch

    if args.device == "cpu":
        torch.set_num_threads(1)
    rows: list[list[str]] = []
    try:
        for name in args.models.split(","):
            if budget.left() < 20:
                rows.append([name, "-", "skipped (time budget)"])
                continue
            try:
                run_arch(ARCHS[name], args, budget, finisher, rows)
            except torch.OutOfMemoryError as exc:
                rows.append([name, "-", f"out of memory: {exc}"[:80]])
            gc.collect()
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
    finally:
        finisher.close()
    header = ["model", "compile", "path", *[f"batch {b}" for b in (1, 4, 8, 16)], "one image, draw+finish"]
    print(f"\ndevice {args.device}{' (tiny configs)' if args.tiny else ''}, finish processes {processes}, images/s")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
