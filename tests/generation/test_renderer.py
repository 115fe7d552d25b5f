"""The renderer on the tiny engine: batching, per-job outcomes, cancellation, OOM recovery."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from generation import images
from generation.errors import GenerationCancelled, GenerationFailed, InvalidRequest, OutOfMemory
from generation.presets import TINY_NOTICE, resolve_request
from generation.provenance import ContentSigner, InstanceCertificates, verify
from generation.renderer import Renderer
from generation.types import GenerationRequest, GenerationResult

if TYPE_CHECKING:
    from generation._torch.engine import DiffusersEngine


def tiny(seed: int, **fields: Any) -> GenerationRequest:
    return resolve_request(f"prompt {seed}", seed=seed, model="tiny", **fields)


@pytest.fixture
def calls(tiny_engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Records the seeds of every tiny_engine.generate call."""
    seen: list[list[int]] = []
    original = tiny_engine.generate

    def spy(requests: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append([r.seed for r in requests])
        return original(requests, *args, **kwargs)

    monkeypatch.setattr(tiny_engine, "generate", spy)
    return seen


@pytest.fixture
def oom_once_for_batches(tiny_engine: DiffusersEngine) -> Iterator[None]:
    import torch

    def hook(module: Any, args: Any) -> None:
        if args[0].shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    handle = tiny_engine.pipeline.unet.register_forward_pre_hook(hook)
    yield
    handle.remove()


def results(outcomes: list[Any]) -> list[GenerationResult]:
    assert all(isinstance(o, GenerationResult) for o in outcomes), outcomes
    return list(outcomes)


def test_renderer__batches_compatible_jobs_and_keeps_order(
    tiny_engine: DiffusersEngine, calls: list[list[int]]
) -> None:
    requests = [tiny(1), tiny(2, steps=3), tiny(3), tiny(4), tiny(5, steps=3)]
    outcomes = results(Renderer(tiny_engine, max_batch=4).render(requests))
    assert calls == [[1, 3, 4], [2, 5]]
    assert [o.request.seed for o in outcomes] == [1, 2, 3, 4, 5]
    assert [o.batch_size for o in outcomes] == [3, 2, 3, 3, 2]
    assert all(o.notice == TINY_NOTICE and o.software["model"] == "tiny" for o in outcomes)


def test_renderer__signs_when_a_signer_is_given(
    tiny_engine: DiffusersEngine, signer: ContentSigner, certificates: InstanceCertificates
) -> None:
    (result,) = results(Renderer(tiny_engine, signer=signer).render([tiny(8)]))
    report = verify(result.png, "image/png", certificates.root_pem)
    assert report is not None
    assert report.state == "Trusted"
    assert images.read_digital_source_type(result.png) == images.TRAINED_ALGORITHMIC_MEDIA
    (unsigned,) = results(Renderer(tiny_engine).render([tiny(8)]))
    assert not unsigned.signed
    assert verify(unsigned.png, "image/png") is None


def test_renderer__an_invalid_job_fails_alone(tiny_engine: DiffusersEngine) -> None:
    bad = GenerationRequest(prompt="x", seed=2, model="tiny", width=63)
    outcomes = Renderer(tiny_engine).render([tiny(1), bad, tiny(3)])
    assert isinstance(outcomes[0], GenerationResult)
    assert isinstance(outcomes[1], InvalidRequest)
    assert "multiple of 8" in str(outcomes[1])
    assert isinstance(outcomes[2], GenerationResult)


def test_renderer__cancelling_one_job_keeps_its_batch_going(tiny_engine: DiffusersEngine) -> None:
    progress: list[tuple[int, int, int]] = []
    outcomes = Renderer(tiny_engine).render(
        [tiny(1, steps=4), tiny(2, steps=4), tiny(3, steps=4)],
        on_progress=lambda job, step, total: progress.append((job, step, total)),
        is_cancelled=lambda job: job == 1 and len(progress) > 3,
    )
    assert isinstance(outcomes[0], GenerationResult)
    assert isinstance(outcomes[1], GenerationCancelled)
    assert isinstance(outcomes[2], GenerationResult)
    assert (0, 4, 4) in progress


def test_renderer__cancelling_every_job_stops_the_batch_early(tiny_engine: DiffusersEngine) -> None:
    progress: list[tuple[int, int, int]] = []
    outcomes = Renderer(tiny_engine).render(
        [tiny(1, steps=20), tiny(2, steps=20)],
        on_progress=lambda job, step, total: progress.append((job, step, total)),
        is_cancelled=lambda job: len(progress) >= 4,
    )
    assert all(isinstance(o, GenerationCancelled) for o in outcomes)
    assert max(step for _, step, _ in progress) == 2


def test_renderer__batch_out_of_memory_retries_each_job_alone(
    tiny_engine: DiffusersEngine, calls: list[list[int]], oom_once_for_batches: None
) -> None:
    outcomes = results(Renderer(tiny_engine).render([tiny(1), tiny(2), tiny(3)]))
    assert calls == [[1, 2, 3], [1], [2], [3]]
    assert [o.batch_size for o in outcomes] == [1, 1, 1]


def test_renderer__solo_out_of_memory_fails_that_job_and_serves_the_next(tiny_engine: DiffusersEngine) -> None:
    import torch

    def hook(module: Any, args: Any) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    handle = tiny_engine.pipeline.unet.register_forward_pre_hook(hook)
    try:
        (failed,) = Renderer(tiny_engine).render([tiny(1)])
    finally:
        handle.remove()
    assert isinstance(failed, OutOfMemory)
    assert isinstance(failed, GenerationFailed)
    assert "try a smaller size or batch" in str(failed)
    results(Renderer(tiny_engine).render([tiny(1)]))


def test_renderer__same_seed_same_bytes_different_seed_different_bytes(tiny_engine: DiffusersEngine) -> None:
    renderer = Renderer(tiny_engine)
    first, again, other = results(
        renderer.render([tiny(21)]) + renderer.render([tiny(21)]) + renderer.render([replace(tiny(21), seed=22)])
    )
    assert (first.png, first.webp, first.thumbnail, first.blurhash) == (
        again.png,
        again.webp,
        again.thumbnail,
        again.blurhash,
    )
    assert first.png != other.png
    assert first.webp != other.webp
