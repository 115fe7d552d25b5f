"""The diffusers tiny_engine with the tiny model on the CPU: the real pipeline code path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from generation.errors import GenerationCancelled, GenerationFailed, InvalidRequest, OutOfMemory
from generation.presets import resolve_request
from generation.types import GenerationRequest

if TYPE_CHECKING:
    from generation._torch.engine import DiffusersEngine


def tiny(prompt: str = "a lighthouse at dusk", **fields: Any) -> GenerationRequest:
    return resolve_request(prompt, model="tiny", **{"seed": 7, **fields})


def pixels(image: Image.Image) -> bytes:
    return image.tobytes()


@pytest.fixture
def raising_unet(tiny_engine: DiffusersEngine) -> Iterator[list[BaseException]]:
    """Append an exception to the yielded list to make the UNet's next forward pass raise it."""
    pending: list[BaseException] = []

    def hook(module: Any, args: Any) -> None:
        if pending:
            raise pending.pop()

    handle = tiny_engine.pipeline.unet.register_forward_pre_hook(hook)
    yield pending
    handle.remove()


def test_engine__same_seed_same_pixels(tiny_engine: DiffusersEngine) -> None:
    request = tiny(seed=1234, guidance=6.0, negative_prompt="blurry")
    first, second = tiny_engine.generate([request])[0], tiny_engine.generate([request])[0]
    assert first.size == (64, 64)
    assert pixels(first) == pixels(second)


def test_engine__different_seed_different_pixels(tiny_engine: DiffusersEngine) -> None:
    a = tiny_engine.generate([tiny(seed=1)])[0]
    b = tiny_engine.generate([tiny(seed=2)])[0]
    assert pixels(a) != pixels(b)


@pytest.fixture
def initial_latents(tiny_engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Records the initial noise tensor of every pipeline call."""
    seen: list[Any] = []
    original = tiny_engine.pipeline.prepare_latents

    def spy(*args: Any, **kwargs: Any) -> Any:
        latents = original(*args, **kwargs)
        seen.append(latents.clone())
        return latents

    monkeypatch.setattr(tiny_engine.pipeline, "prepare_latents", spy)
    return seen


BATCH = [
    ("a red fox", 11, ""),
    ("a blue whale", 12, "text"),
    ("a red fox", 13, ""),
    ("a green hill", 11, ""),
]


@pytest.mark.parametrize("guidance", [0.0, 5.0])
def test_engine__batch_starts_from_the_solo_noise_and_matches_solo_pixels(
    tiny_engine: DiffusersEngine, initial_latents: list[Any], guidance: float
) -> None:
    import numpy as np

    requests = [tiny(p, seed=s, negative_prompt=n, guidance=guidance) for p, s, n in BATCH]
    batched = tiny_engine.generate(requests)
    solo = [tiny_engine.generate([r])[0] for r in requests]

    batch_noise, solo_noise = initial_latents[0], initial_latents[1:]
    assert all(batch_noise[i].equal(solo_noise[i][0]) for i in range(len(requests)))
    assert len({pixels(i) for i in batched}) == len(requests)
    # Pixels agree up to float rounding: CPU and GPU kernels pick a different blocking for another
    # batch size (here the time-embedding matmuls), so a few values may differ by one level.
    for b, s in zip(batched, solo, strict=True):
        delta = np.abs(np.asarray(b, dtype=np.int16) - np.asarray(s, dtype=np.int16))
        assert delta.max() <= 1
        assert np.count_nonzero(delta) <= delta.size // 1000


def test_engine__batch_is_byte_identical_run_to_run(tiny_engine: DiffusersEngine) -> None:
    requests = [tiny(p, seed=s, negative_prompt=n, guidance=5.0) for p, s, n in BATCH]
    assert [pixels(i) for i in tiny_engine.generate(requests)] == [pixels(i) for i in tiny_engine.generate(requests)]


def test_engine__reports_every_step(tiny_engine: DiffusersEngine) -> None:
    steps: list[tuple[int, int]] = []
    tiny_engine.generate([tiny(steps=5)], on_step=lambda step, total: steps.append((step, total)))
    assert steps == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_engine__cancel_raises_and_stops_early(tiny_engine: DiffusersEngine) -> None:
    steps: list[int] = []
    with pytest.raises(GenerationCancelled, match="after step 2 of 10"):
        tiny_engine.generate(
            [tiny(steps=10)],
            on_step=lambda step, total: steps.append(step),
            should_cancel=lambda: len(steps) >= 2,
        )
    assert steps == [1, 2]


def test_engine__cancel_before_start_runs_no_step(tiny_engine: DiffusersEngine) -> None:
    steps: list[int] = []
    with pytest.raises(GenerationCancelled, match="before"):
        tiny_engine.generate([tiny()], on_step=lambda step, total: steps.append(step), should_cancel=lambda: True)
    assert steps == []


def test_engine__bad_size_is_a_clear_error(tiny_engine: DiffusersEngine) -> None:
    request = replace(tiny(), width=65)
    with pytest.raises(InvalidRequest, match=r"width must be a multiple of 8 .*, got 65"):
        tiny_engine.generate([request])


def test_engine__incompatible_batch_is_refused(tiny_engine: DiffusersEngine) -> None:
    with pytest.raises(InvalidRequest, match="share"):
        tiny_engine.generate([tiny(), tiny(steps=3)])


def test_engine__other_model_is_refused(tiny_engine: DiffusersEngine) -> None:
    with pytest.raises(InvalidRequest, match="engine serves 'tiny'"):
        tiny_engine.generate([resolve_request("x", seed=1)])


def test_engine__pipeline_error_fails_the_call_and_engine_keeps_serving(
    tiny_engine: DiffusersEngine, raising_unet: list[BaseException]
) -> None:
    raising_unet.append(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    with pytest.raises(GenerationFailed, match="tiny failed: RuntimeError: mat1 and mat2") as caught:
        tiny_engine.generate([tiny()])
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert tiny_engine.generate([tiny()])[0].size == (64, 64)


def test_engine__out_of_memory_is_typed_and_engine_keeps_serving(
    tiny_engine: DiffusersEngine, raising_unet: list[BaseException]
) -> None:
    import torch

    raising_unet.append(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    with pytest.raises(OutOfMemory, match=r"out of cpu memory rendering 2 image\(s\) of 64x64 with tiny"):
        tiny_engine.generate([tiny(seed=1), tiny(seed=2)])
    assert pixels(tiny_engine.generate([tiny(seed=1)])[0]) == pixels(tiny_engine.generate([tiny(seed=1)])[0])


# diffusers' EulerDiscreteScheduler calls np.array() on a torch tensor, which warns under numpy 2.4
# (harmless: a copy is made anyway). It is SD-Turbo's scheduler, so we keep testing with it.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_engine__scheduler_is_switched_per_call_and_restored(tiny_engine: DiffusersEngine) -> None:
    default = tiny_engine.pipeline.scheduler
    ddim = tiny_engine.generate([tiny(steps=3)])[0]
    euler = tiny_engine.generate([tiny(steps=3, scheduler="euler")])[0]
    assert tiny_engine.pipeline.scheduler is default
    assert pixels(euler) != pixels(ddim)
    assert pixels(tiny_engine.generate([tiny(steps=3, scheduler="euler")])[0]) == pixels(euler)


def test_engine__describes_its_software(tiny_engine: DiffusersEngine) -> None:
    info = tiny_engine.software()
    assert info["pipeline"] == "StableDiffusionPipeline"
    assert info["scheduler"] == "DDIMScheduler"
    assert (info["model"], info["device"], info["dtype"]) == ("tiny", "cpu", "float32")


def test_tiny__cache_is_reused(tiny_cache_dir: Any) -> None:
    from generation._torch.tiny import TINY_DIRNAME, ensure_tiny_pipeline

    target = tiny_cache_dir / TINY_DIRNAME
    stamp = (target / "model_index.json").stat().st_mtime_ns
    assert ensure_tiny_pipeline(tiny_cache_dir) == target
    assert (target / "model_index.json").stat().st_mtime_ns == stamp
    assert [p.name for p in tiny_cache_dir.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_load_engine__tiny_needs_a_cache_dir() -> None:
    from generation.backend import load_engine

    with pytest.raises(InvalidRequest, match="cache_dir"):
        load_engine("tiny", device="cpu")


def test_engine__vae_tiles_above_the_threshold_only(
    tiny_engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generation._torch import engine as engine_module

    monkeypatch.setattr(engine_module, "TILE_VAE_ABOVE", 32 * 32)
    assert tiny_engine.generate([tiny()])[0].size == (64, 64)
    assert tiny_engine.pipeline.vae.use_tiling
    monkeypatch.setattr(engine_module, "TILE_VAE_ABOVE", 64 * 64)
    tiny_engine.generate([tiny()])
    assert not tiny_engine.pipeline.vae.use_tiling


def test_load_engine__channels_last_option(tiny_cache_dir: Any) -> None:
    import torch

    from generation.backend import load_engine

    fast = load_engine("tiny", cache_dir=tiny_cache_dir, device="cpu", channels_last=True)
    assert fast.pipeline.unet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert fast.generate([tiny()])[0].size == (64, 64)


def test_device__auto_choice_on_this_machine() -> None:
    import torch

    from generation._torch.device import choose_device, choose_dtype

    assert choose_device("cpu") == "cpu"
    assert choose_dtype("cpu") == torch.float32
    assert choose_dtype("cpu", "bf16") == torch.bfloat16
    with pytest.raises(InvalidRequest, match="unknown dtype"):
        choose_dtype("cpu", "int3")
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert choose_device() == "cpu"


def test_device__gpu_dtype_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from generation._torch.device import choose_dtype

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert choose_dtype("cuda") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert choose_dtype("cuda:1") == torch.float16
    assert choose_dtype("cuda", half_precision_ok=False) == torch.float32
    assert choose_dtype("mps") == torch.float16


def test_engine__errors_of_the_callers_callbacks_propagate_unchanged(tiny_engine: DiffusersEngine) -> None:
    def broken(step: int, total: int) -> None:
        raise LookupError("progress store is down")

    with pytest.raises(LookupError, match="progress store is down"):
        tiny_engine.generate([tiny()], on_step=broken)
    assert tiny_engine.generate([tiny()])[0].size == (64, 64)
