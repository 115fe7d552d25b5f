"""Shape buckets and warm-up for a compiled pipeline (issue 14, point 3): after ``warm_up`` no batch size up
to ``max_batch`` makes torch.compile trace again, and padding never changes a job's image.

torch.compile runs with the ``eager`` backend here (graph capture and guards, no inductor code generation),
which is what decides recompiles; inductor adds only the code it generates per trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from generation.batching import bucket_for, bucket_sizes
from generation.emulated import EmulatedEngine
from generation.errors import GenerationFailed
from generation.presets import resolve_request

if TYPE_CHECKING:
    from generation._torch.engine import DiffusersEngine


def test_bucket_sizes__powers_of_two_then_max_batch() -> None:
    assert bucket_sizes(1) == [1]
    assert bucket_sizes(4) == [1, 2, 4]
    assert bucket_sizes(6) == [1, 2, 4, 6]
    assert bucket_sizes(8) == [1, 2, 4, 8]
    with pytest.raises(ValueError, match="at least 1"):
        bucket_sizes(0)


def test_bucket_for__smallest_bucket_that_holds_the_batch() -> None:
    assert [bucket_for(n, (1, 2, 4, 6)) for n in range(1, 8)] == [1, 2, 4, 4, 6, 6, 7]
    assert bucket_for(3, ()) == 3


def _engine(cache: Path, buckets: tuple[int, ...]) -> DiffusersEngine:
    from generation._torch.engine import DiffusersEngine
    from generation.backend import load_engine

    loaded = load_engine("tiny", cache_dir=cache, device="cpu")
    return DiffusersEngine(loaded.pipeline, model="tiny", device="cpu", dtype=loaded.dtype, buckets=buckets)


@pytest.fixture
def batch_sizes(tiny_engine: DiffusersEngine) -> Iterator[list[int]]:
    """The batch size of every UNet forward pass of the shared tiny engine (without guidance: one row per
    image)."""
    seen: list[int] = []

    def hook(module: Any, args: Any) -> None:
        seen.append(int(args[0].shape[0]))

    handle = tiny_engine.pipeline.unet.register_forward_pre_hook(hook)
    yield seen
    handle.remove()


def test_engine__pads_a_batch_to_its_bucket_and_returns_only_the_jobs_images(
    tiny_engine: DiffusersEngine, batch_sizes: list[int]
) -> None:
    requests = [resolve_request(f"a house {i}", model="tiny", seed=40 + i, guidance=0.0) for i in range(3)]
    plain = tiny_engine.generate(requests)
    assert set(batch_sizes) == {3}
    batch_sizes.clear()
    tiny_engine.buckets = (1, 2, 4)
    try:
        padded = tiny_engine.generate(requests)
    finally:
        tiny_engine.buckets = ()
    assert set(batch_sizes) == {4}
    assert len(padded) == 3
    # Each image comes from its own generator, so the padding copy changes none of them (up to the one
    # level of rounding another batch size may bring: test_engine's batch-against-solo test).
    for a, b in zip(plain, padded, strict=True):
        diff = [abs(x - y) for x, y in zip(a.tobytes(), b.tobytes(), strict=True)]
        assert max(diff) <= 1


@pytest.fixture
def no_recompile() -> Iterator[Any]:
    import torch

    torch._dynamo.reset()
    yield torch
    torch._dynamo.reset()


def test_warm_up__traces_every_bucket_so_no_batch_size_recompiles(tiny_cache_dir: Path, no_recompile: Any) -> None:
    from generation._torch.engine import compile_pipeline

    torch = no_recompile
    engine = _engine(tiny_cache_dir, (1, 2, 4))
    compile_pipeline(engine.pipeline, backend="eager")
    took = engine.warm_up()
    assert sorted(took) == [1, 2, 4]
    with torch._dynamo.config.patch(error_on_recompile=True):
        for size in (3, 1, 4, 2):
            requests = [resolve_request("a boat", model="tiny", seed=seed) for seed in range(size)]
            assert len(engine.generate(requests)) == size


def test_warm_up__without_buckets_a_new_batch_size_recompiles(tiny_cache_dir: Path, no_recompile: Any) -> None:
    from generation._torch.engine import compile_pipeline

    torch = no_recompile
    engine = _engine(tiny_cache_dir, ())
    compile_pipeline(engine.pipeline, backend="eager")
    assert sorted(engine.warm_up()) == [1]
    with torch._dynamo.config.patch(error_on_recompile=True), pytest.raises(GenerationFailed) as failed:
        engine.generate([resolve_request("a boat", model="tiny", seed=seed) for seed in range(3)])
    assert isinstance(failed.value.__cause__, torch._dynamo.exc.RecompileError)


def test_emulated_engine__warm_up_makes_its_image_bank_for_the_size() -> None:
    engine = EmulatedEngine("emulated:0")
    assert list(engine.warm_up(96, 64)) == [1]
    assert (96, 64) in engine._banks


@pytest.mark.parametrize("compiled", [True, False])
def test_renderer_factory__warms_up_a_compiled_engine_at_the_configured_size(compiled: bool) -> None:
    from fediserver.config import GenerationSettings, Settings
    from fediserver.imagegen.engines import renderer_factory

    generation = GenerationSettings(model="emulated:0", compile=compiled, width=96, height=64, c2pa=False)
    renderer_for = renderer_factory(Settings(generation=generation))
    configured, other = renderer_for("emulated:0").engine, renderer_for("emulated:1").engine
    assert isinstance(configured, EmulatedEngine)
    assert isinstance(other, EmulatedEngine)
    # The configured model at the configured size; another model at its preset's (jobs/defaults).
    assert list(configured._banks) == ([(96, 64)] if compiled else [])
    assert list(other._banks) == ([(512, 512)] if compiled else [])


async def test_gpu_worker_warm_up__a_model_that_cannot_load_is_logged_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from fediserver.cli.generate import _warm_up

    def renderer_for(model: str) -> None:
        raise OSError(f"no weights for {model}")

    with ThreadPoolExecutor(1) as executor:
        worker: Any = SimpleNamespace(executor=executor, renderer_for=renderer_for)
        await _warm_up(worker, "missing-model")  # the worker goes on; its jobs fail with the reason
    [record] = [r for r in caplog.records if r.name == "fediserver.gpu"]
    assert "warming up the generation model failed" in record.getMessage()
    assert record.exc_info is not None
    assert "no weights for missing-model" in str(record.exc_info[1])
