"""DiffusersEngine: one loaded pipeline that renders batches of compatible requests.

Reproducibility: every image gets its own CPU ``torch.Generator`` seeded with its request's seed, so
an image in a batch starts from exactly the noise of a solo render with that seed, on every device.
Its pixels match the solo render up to float rounding: kernels are chosen per batch size, so a few
values may differ by one level (see docs/generation-engine.md). Not thread-safe: one worker thread
owns an engine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import diffusers
import torch
from diffusers import DiffusionPipeline
from PIL import Image

from generation.batching import DEFAULT_MAX_BATCH, bucket_for, bucket_sizes
from generation.errors import GenerationCancelled, GenerationFailed, InvalidRequest, OutOfMemory
from generation.presets import SCHEDULERS, canonical_model, model_source, preset_for, resolve, validate
from generation.types import CancelCheck, GenerationRequest, ProgressCallback

from .device import choose_device, choose_dtype, dtype_name
from .tiny import ensure_tiny_pipeline

log = logging.getLogger(__name__)

# Above this many pixels the VAE decodes in tiles: the full-size decode is what runs out of memory
# first at large sizes (about 10 TFLOP and many GB of activations at 1024x1024).
TILE_VAE_ABOVE = 1536 * 1536


class DiffusersEngine:
    """Renders resolved requests for one model with a loaded diffusers pipeline."""

    def __init__(
        self, pipeline: Any, *, model: str, device: str, dtype: torch.dtype, buckets: Sequence[int] = ()
    ) -> None:
        """``pipeline`` is a loaded ``DiffusionPipeline`` already on ``device``.

        It is typed ``Any`` because diffusers registers components (unet, vae...) at run time.
        ``buckets``: the batch sizes a compiled pipeline was traced for (``batching.bucket_sizes``); a
        smaller batch is padded up to the next one. Empty (uncompiled): batches run as they come.
        """
        self.pipeline = pipeline
        self.buckets = tuple(sorted(buckets))
        self.model = model
        self.device = device
        self.dtype = dtype
        self.preset = preset_for(model)
        self._default_scheduler = self.pipeline.scheduler
        self._schedulers: dict[str, Any] = {}
        self.pipeline.set_progress_bar_config(disable=True)

    def software(self) -> dict[str, str]:
        """Names and versions recorded with each image."""
        try:
            ours = metadata.version("fediserver")
        except metadata.PackageNotFoundError:
            ours = "unknown"  # running from a source checkout that was never pip-installed
        return {
            "fediserver": ours,
            "diffusers": diffusers.__version__,
            "torch": torch.__version__,
            "pipeline": type(self.pipeline).__name__,
            "scheduler": type(self._default_scheduler).__name__,
            "model": self.model,
            "device": self.device,
            "dtype": dtype_name(self.dtype),
        }

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        on_step: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> list[Image.Image]:
        """Render ``requests`` (same batch key, this engine's model) in one pipeline call.

        ``on_step(step, total)`` runs after each denoising step; when ``should_cancel()`` returns True
        (checked before the call and after each step) :class:`GenerationCancelled` is raised and no
        image is decoded. Raises :class:`InvalidRequest`, :class:`OutOfMemory` (the cache is freed,
        the engine stays usable) or :class:`GenerationFailed` with the pipeline's error chained.
        """
        if not requests:
            return []
        first = requests[0]
        for request in requests:
            validate(request, self.preset)
            if request.model != self.model:
                raise InvalidRequest(f"engine serves {self.model!r}, request wants {request.model!r}")
            if request.batch_key() != first.batch_key():
                raise InvalidRequest("requests in one call must share model, size, steps, guidance, scheduler")
        if should_cancel is not None and should_cancel():
            raise GenerationCancelled("cancelled before rendering started")
        key = first.batch_key()

        caller_errors: list[Exception] = []

        def step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            try:
                if on_step is not None:
                    on_step(step + 1, key.steps)
                cancel = should_cancel is not None and should_cancel()
            except Exception as exc:
                # The caller's own callbacks failed: that is their error, not the pipeline's.
                caller_errors.append(exc)
                raise
            # Raising here propagates out of the pipeline before the VAE decode; setting
            # pipe._interrupt would still decode a half-denoised image.
            if cancel:
                raise GenerationCancelled(f"cancelled after step {step + 1} of {key.steps}")
            return tensors

        # Padded with copies of the last request up to its shape bucket: a compiled pipeline then never
        # traces a new batch size while a job waits (minutes each with inductor); the copies are dropped.
        padded = [*requests, *[requests[-1]] * (bucket_for(len(requests), self.buckets) - len(requests))]
        negatives = [r.negative_prompt for r in padded]
        kwargs: dict[str, Any] = {
            "prompt": [r.prompt for r in padded],
            "negative_prompt": negatives if any(negatives) else None,
            "num_inference_steps": key.steps,
            "guidance_scale": key.guidance,
            "width": key.width,
            "height": key.height,
            "generator": [torch.Generator("cpu").manual_seed(r.seed) for r in padded],
            "callback_on_step_end": step_end,
            # Decoded pixels stay on the device; to_8bit converts them there and copies once.
            "output_type": "pt",
            **dict(self.preset.call_options),
        }
        started = time.perf_counter()
        try:
            self._prepare(key.width * key.height, key.scheduler)
            output = self.pipeline(**kwargs)
        except GenerationCancelled:
            raise
        except Exception as exc:
            if caller_errors and exc is caller_errors[0]:
                raise
            raise self._failure(exc, len(requests), key.width, key.height) from exc
        finally:
            self.pipeline.scheduler = self._default_scheduler
        if len(output.images) != len(padded):
            raise GenerationFailed(f"pipeline returned {len(output.images)} images for {len(padded)} requests")
        images = to_8bit(output.images[: len(requests)])
        log.debug("rendered %d image(s) in %.3f s", len(images), time.perf_counter() - started)
        return images

    def warm_up(self, width: int | None = None, height: int | None = None) -> dict[int, float]:
        """Render one batch of each bucket size at ``width`` x ``height`` (the preset's when None) and
        the preset's steps and guidance, so that a compiled pipeline has traced every shape the worker
        will give it at that size; returns the seconds each size took. Another size, or a guidance that
        changes whether the prompt is doubled (classifier-free guidance), is traced on first use."""
        took: dict[int, float] = {}
        for size in self.buckets or (1,):
            requests = [
                resolve(GenerationRequest(prompt="warm-up", seed=seed, model=self.model, width=width, height=height))
                for seed in range(size)
            ]
            started = time.perf_counter()
            self.generate(requests)
            took[size] = time.perf_counter() - started
            log.info("warmed up %s for batch %d in %.1f s", self.model, size, took[size])
        return took

    def _failure(self, exc: Exception, count: int, width: int, height: int) -> GenerationFailed:
        """Map a pipeline exception to :class:`OutOfMemory` (after freeing the cache) or a failure."""
        # MPS reports exhaustion as a plain RuntimeError, CUDA as torch.OutOfMemoryError.
        if isinstance(exc, torch.OutOfMemoryError) or (
            isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
        ):
            self._free_memory()
            return OutOfMemory(
                f"out of {self.device} memory rendering {count} image(s) of {width}x{height} "
                f"with {self.model}; try a smaller size or batch"
            )
        return GenerationFailed(f"{self.model} failed: {type(exc).__name__}: {exc}")

    def _prepare(self, pixels: int, scheduler: str | None) -> None:
        vae = getattr(self.pipeline, "vae", None)
        if vae is not None and hasattr(vae, "enable_tiling"):
            if pixels > TILE_VAE_ABOVE:
                vae.enable_tiling()
            else:
                vae.disable_tiling()
        if scheduler is not None:
            if scheduler not in self._schedulers:
                cls = getattr(diffusers, SCHEDULERS[scheduler])
                self._schedulers[scheduler] = cls.from_config(self._default_scheduler.config)
            self.pipeline.scheduler = self._schedulers[scheduler]

    def _free_memory(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
        elif self.device.startswith("mps"):
            torch.mps.empty_cache()


def to_8bit(pixels: torch.Tensor) -> list[Image.Image]:
    """``(N, 3, H, W)`` floats in [0, 1] on any device to N RGB images, with one copy to the host.

    The rounding is diffusers' own ``numpy_to_pil`` (``(x * 255).round()`` in float32), done on the
    device, so the pixels are those of ``output_type="pil"`` while the host receives a quarter of the
    bytes and does no float work (72 ms per 16 images at 512x512 on the H200 machine, issue 14).
    """
    as_bytes = (pixels.float() * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
    return [Image.fromarray(frame) for frame in as_bytes]


def load_engine(
    model: str,
    *,
    cache_dir: Path | None = None,
    device: str = "auto",
    dtype: str = "auto",
    compile: bool = False,
    compile_mode: str = "default",
    max_batch: int = DEFAULT_MAX_BATCH,
    channels_last: bool = False,
    variant: str | None = None,
) -> DiffusersEngine:
    """Load ``model`` (preset alias, hub id, local directory, or ``tiny``) onto a device.

    Hub models load through the Hugging Face cache (downloaded on first use unless HF_HUB_OFFLINE=1);
    ``tiny`` is built under ``cache_dir`` on first use. ``variant`` selects weight files such as
    ``fp16``. ``compile`` wraps the denoiser and VAE decoder in ``torch.compile`` (``compile_mode``;
    minutes per traced shape), and the engine pads batches to ``bucket_sizes(max_batch)``: call
    :meth:`DiffusersEngine.warm_up` before serving. ``channels_last`` changes the conv memory format.
    """
    name = canonical_model(model)
    preset = preset_for(name)
    source = model_source(name)
    chosen_device = choose_device(device)
    chosen_dtype = choose_dtype(chosen_device, dtype, half_precision_ok=preset.half_precision_ok)
    if source.kind == "tiny":
        if cache_dir is None:
            raise InvalidRequest("the tiny model is built on first use: pass cache_dir")
        location, local_only = str(ensure_tiny_pipeline(cache_dir)), True
        log.warning("model 'tiny' has random weights: %s", preset.notice)
    else:
        location, local_only = source.location, source.kind == "local"
    options: dict[str, Any] = {"dtype": chosen_dtype, "local_files_only": local_only}
    if variant is not None:
        options["variant"] = variant
    pipeline: Any = DiffusionPipeline.from_pretrained(location, **options)  # type: ignore[no-untyped-call]
    pipeline.to(chosen_device)
    if channels_last:
        for part in (getattr(pipeline, "unet", None), getattr(pipeline, "vae", None)):
            if part is not None:
                part.to(memory_format=torch.channels_last)
    if compile:
        compile_pipeline(pipeline, compile_mode)
    buckets = bucket_sizes(max_batch) if compile else ()
    return DiffusersEngine(pipeline, model=name, device=chosen_device, dtype=chosen_dtype, buckets=buckets)


def compile_pipeline(pipeline: Any, mode: str = "default", backend: str = "inductor") -> None:
    """Wrap the denoiser (UNet or transformer) and the VAE decoder in ``torch.compile`` with static
    shapes: each batch size is its own trace (shape bucket), which is what ``warm_up`` prepares.
    ``backend="eager"`` captures graphs without inductor's code generation (the CPU dry runs and tests)."""
    options: dict[str, Any] = {"dynamic": False, "backend": backend}
    if backend == "inductor":
        options["mode"] = mode
    name = "unet" if hasattr(pipeline, "unet") else "transformer"
    setattr(pipeline, name, torch.compile(getattr(pipeline, name), **options))
    pipeline.vae.decode = torch.compile(pipeline.vae.decode, **options)
