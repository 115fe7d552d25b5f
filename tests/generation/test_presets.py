"""Request resolution, validation and micro-batch planning (no torch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generation import DEFAULT_MODEL, GenerationRequest, InvalidRequest, preset_for, resolve, resolve_request
from generation.batching import plan_batches, take_batch
from generation.presets import model_source


def test_resolve_request__fills_the_model_defaults_and_draws_a_seed() -> None:
    first = resolve_request("a cat")
    second = resolve_request("a cat")
    assert first.model == DEFAULT_MODEL == "sd-turbo"
    assert (first.steps, first.guidance, first.width, first.height) == (1, 0.0, 512, 512)
    assert first.is_resolved
    assert 0 <= first.seed < 2**53
    assert first.seed != second.seed


def test_resolve_request__keeps_explicit_values() -> None:
    request = resolve_request("a cat", seed=5, steps=3, guidance=1.5, width=768, height=512, model="sdxl-turbo")
    assert request.parameters() == {
        "model": "sdxl-turbo",
        "prompt": "a cat",
        "negative_prompt": "",
        "seed": 5,
        "steps": 3,
        "guidance": 1.5,
        "width": 768,
        "height": 512,
        "scheduler": None,
    }


@pytest.mark.parametrize(
    ("model", "steps", "guidance", "side"),
    [
        ("sd-turbo", 1, 0.0, 512),
        ("sdxl-turbo", 1, 0.0, 512),
        ("sd15", 25, 7.5, 512),
        ("sdxl", 30, 7.0, 1024),
        ("flux-schnell", 4, 0.0, 1024),
        ("tiny", 2, 0.0, 64),
    ],
)
def test_presets__defaults_per_model(model: str, steps: int, guidance: float, side: int) -> None:
    request = resolve_request("x", seed=1, model=model)
    assert (request.steps, request.guidance, request.width, request.height) == (steps, guidance, side, side)


def test_presets__hub_id_of_a_preset_is_recorded_under_its_alias() -> None:
    assert resolve_request("x", seed=1, model="stabilityai/sdxl-turbo").model == "sdxl-turbo"
    assert model_source("sdxl-turbo").location == "stabilityai/sdxl-turbo"


def test_presets__unknown_hub_id_gets_generic_defaults() -> None:
    request = resolve_request("x", seed=1, model="someone/some-model")
    assert (request.model, request.steps, request.width) == ("someone/some-model", 30, 512)
    assert model_source("someone/some-model").kind == "hub"


def test_presets__local_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"no model_index\.json"):
        model_source(str(tmp_path))
    (tmp_path / "model_index.json").write_text("{}")
    source = model_source(str(tmp_path))
    assert (source.kind, source.location) == ("local", str(tmp_path.resolve()))


def test_presets__nonsense_model_name_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="unknown model 'no such model'"):
        model_source("no such model")


def test_presets__flux_needs_multiples_of_16_and_no_fp16() -> None:
    assert not preset_for("flux-schnell").half_precision_ok
    with pytest.raises(InvalidRequest, match="multiple of 16"):
        resolve_request("x", seed=1, model="flux-schnell", width=1000)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"width": 500}, "width must be a multiple of 8"),
        ({"height": 8192}, "height must be a multiple of 8 between 8 and 4096"),
        ({"steps": 0}, "steps must be 1..4 for sd-turbo"),
        ({"steps": 5}, "steps must be 1..4 for sd-turbo"),
        ({"guidance": -1.0}, "guidance"),
        ({"scheduler": "magic"}, "unknown scheduler 'magic'"),
        ({"steps": 2.0}, "steps must be an integer, got 2.0"),
        ({"width": True}, "width must be an integer"),
    ],
)
def test_resolve__invalid_requests_say_why(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        resolve(GenerationRequest(prompt="a cat", seed=1, **fields))  # type: ignore[arg-type]


def test_request__empty_prompt_and_bad_seed_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="prompt is empty"):
        resolve_request("   ", seed=1)
    with pytest.raises(InvalidRequest, match="negative_prompt is not valid Unicode"):
        resolve_request("ok", negative_prompt="\ud800", seed=1)
    with pytest.raises(ValueError, match="seed"):
        GenerationRequest(prompt="x", seed=-1)
    with pytest.raises(ValueError, match="seed"):
        GenerationRequest(prompt="x", seed=2**63)
    with pytest.raises(ValueError, match="seed"):
        GenerationRequest(prompt="x", seed=1.0)  # type: ignore[arg-type]


def test_batch_key__needs_a_resolved_request() -> None:
    with pytest.raises(ValueError, match="resolved"):
        GenerationRequest(prompt="x", seed=1).batch_key()


def test_batching__head_first_then_compatible_followers() -> None:
    a1, b1, a2, a3, b2, a4, a5 = (
        resolve_request("x", seed=i, model="tiny", steps=2 if name == "a" else 3) for i, name in enumerate("abaabaa")
    )
    requests = [a1, b1, a2, a3, b2, a4, a5]
    assert take_batch(requests, lambda r: r.batch_key(), max_batch=4) == [a1, a2, a3, a4]
    assert plan_batches(requests, max_batch=4) == [[0, 2, 3, 5], [1, 4], [6]]
    assert plan_batches(requests, max_batch=1) == [[i] for i in range(7)]
    assert take_batch([], lambda r: r.batch_key()) == []
    with pytest.raises(ValueError, match="max_batch"):
        take_batch(requests, lambda r: r.batch_key(), max_batch=0)


def test_batching__size_and_guidance_split_batches() -> None:
    base = resolve_request("x", seed=1, model="tiny")
    others = [
        resolve_request("y", seed=2, model="tiny", width=128),
        resolve_request("y", seed=2, model="tiny", guidance=3.0),
        resolve_request("y", seed=2, model="tiny", scheduler="euler"),
        resolve_request("other prompt", seed=99, model="tiny", negative_prompt="z"),
    ]
    assert [o.batch_key() == base.batch_key() for o in others] == [False, False, False, True]
