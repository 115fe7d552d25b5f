"""An engine that stands in for a GPU: real-size images after a fixed delay per image.

It lets the whole server path (queue, batching, encoding pool, storage, posting) be measured on a
machine without an accelerator (issue 14). The model name is ``emulated`` (24 ms per image, the bare
SD-Turbo rate of an H200 at batch 16) or ``emulated:MS`` for another delay in milliseconds. The
delay is spent sleeping, as a render thread waits on the device, so it costs no CPU.

Images are photo-like noise (several octaves of smooth noise plus grain), not flat colour: PNG, WebP
and blurhash then cost what they cost on a real picture. A bank of images per size is drawn once at
first use; each request gets one of them shifted by an amount taken from its seed, so its pixels
follow from the seed within one process. Nothing here imports torch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from PIL import Image, ImageChops

from generation.errors import GenerationCancelled, InvalidRequest
from generation.presets import EMULATED_MODEL, resolve, validate
from generation.types import CancelCheck, GenerationRequest, ProgressCallback

DEFAULT_DELAY_MS = 24.0
_BANK_SIZE = 8
# Octave grid sides and noise strengths: coarse shapes, mid texture, fine grain.
_OCTAVES = ((4, 60.0), (16, 40.0), (64, 24.0))
_GRAIN = 10.0


def delay_of(model: str) -> float:
    """Seconds per image for ``emulated`` or ``emulated:MS``; raises :class:`InvalidRequest` otherwise."""
    if model == EMULATED_MODEL:
        return DEFAULT_DELAY_MS / 1000
    prefix, _, value = model.partition(":")
    try:
        millis = float(value)
    except ValueError:
        millis = -1.0
    if prefix != EMULATED_MODEL or not 0 <= millis <= 60_000:
        raise InvalidRequest(f"emulated model names are 'emulated' or 'emulated:MS' (0..60000 ms), got {model!r}")
    return millis / 1000


def is_emulated(model: str) -> bool:
    return model == EMULATED_MODEL or model.startswith(EMULATED_MODEL + ":")


def _channel(width: int, height: int) -> Image.Image:
    layer = Image.new("L", (width, height), 128)
    for side, sigma in _OCTAVES:
        coarse = Image.effect_noise((side, max(1, side * height // width)), sigma)
        smooth = coarse.resize((width, height), Image.Resampling.BICUBIC)
        layer = ImageChops.add(layer, smooth, scale=1.0, offset=-128)
    grain = Image.effect_noise((width, height), _GRAIN)
    return ImageChops.add(layer, grain, scale=1.0, offset=-128)


def _photo_like(width: int, height: int) -> Image.Image:
    return Image.merge("RGB", [_channel(width, height) for _ in range(3)])


class EmulatedEngine:
    """Implements :class:`~generation.backend.ImageEngine` without an accelerator (see module doc)."""

    def __init__(self, model: str = EMULATED_MODEL) -> None:
        self.model = model
        self.seconds_per_image = delay_of(model)
        self._banks: dict[tuple[int, int], list[Image.Image]] = {}
        self._lock = threading.Lock()

    def software(self) -> dict[str, str]:
        return {"pipeline": "EmulatedEngine", "model": self.model, "device": "emulated"}

    def _bank(self, width: int, height: int) -> list[Image.Image]:
        with self._lock:
            if (width, height) not in self._banks:
                self._banks[(width, height)] = [_photo_like(width, height) for _ in range(_BANK_SIZE)]
            return self._banks[(width, height)]

    def warm_up(self, width: int | None = None, height: int | None = None) -> dict[int, float]:
        """Make the image bank of that size (the preset's when None), which the first render of a size
        would otherwise make while a job waits; returns its seconds under batch size 1."""
        request = GenerationRequest(prompt="warm-up", seed=0, model=self.model, width=width, height=height)
        key = resolve(request).batch_key()
        started = time.perf_counter()
        self._bank(key.width, key.height)
        return {1: time.perf_counter() - started}

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        on_step: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> list[Image.Image]:
        """Sleep ``seconds_per_image * len(requests)`` spread over the steps, then return the images."""
        if not requests:
            return []
        first = requests[0]
        for request in requests:
            validate(request)
            if request.model != self.model:
                raise InvalidRequest(f"engine serves {self.model!r}, request wants {request.model!r}")
            if request.batch_key() != first.batch_key():
                raise InvalidRequest("requests in one call must share model, size, steps, guidance, scheduler")
        key = first.batch_key()
        if should_cancel is not None and should_cancel():
            raise GenerationCancelled("cancelled before rendering started")
        per_step = self.seconds_per_image * len(requests) / key.steps
        for step in range(1, key.steps + 1):
            time.sleep(per_step)
            if on_step is not None:
                on_step(step, key.steps)
            if should_cancel is not None and should_cancel():
                raise GenerationCancelled(f"cancelled after step {step} of {key.steps}")
        bank = self._bank(key.width, key.height)
        return [
            ImageChops.offset(bank[r.seed % _BANK_SIZE], (r.seed // 8) % key.width, (r.seed // 4096) % key.height)
            for r in requests
        ]
