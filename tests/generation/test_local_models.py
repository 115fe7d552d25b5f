"""Models loaded from a local diffusers directory, including an SDXL-shaped pipeline (sdxl, sdxl-turbo).

The SDXL pipeline is tiny and random (configs from diffusers' own SDXL tests), saved with
``save_pretrained`` and loaded back by path, exactly as an operator's local model would be.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from generation.errors import GenerationCancelled
from generation.presets import resolve_request
from generation.types import GenerationRequest

if TYPE_CHECKING:
    from generation._torch.engine import DiffusersEngine

# EulerDiscreteScheduler (SDXL's) calls np.array() on a tensor, which numpy 2.4 flags; harmless.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def sdxl_dir(tiny_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from generation._torch.tiny import TINY_DIRNAME

    tokenizer = CLIPTokenizer.from_pretrained(tiny_cache_dir / TINY_DIRNAME / "tokenizer")
    config = CLIPTextConfig(
        bos_token_id=512,
        eos_token_id=513,
        pad_token_id=513,
        hidden_size=8,
        intermediate_size=16,
        layer_norm_eps=1e-5,
        num_attention_heads=2,
        num_hidden_layers=2,
        vocab_size=1000,
        projection_dim=8,
    )
    # diffusers' constructors are untyped; build through an Any-typed module reference.
    d: Any = diffusers
    with torch.random.fork_rng(devices=[]):  # fixed weights without touching the global RNG
        torch.manual_seed(0)
        pipeline = d.StableDiffusionXLPipeline(
            vae=d.AutoencoderKL(
                block_out_channels=[4, 8],
                down_block_types=["DownEncoderBlock2D"] * 2,
                up_block_types=["UpDecoderBlock2D"] * 2,
                latent_channels=4,
                norm_num_groups=2,
            ),
            text_encoder=CLIPTextModel(config),
            text_encoder_2=CLIPTextModelWithProjection(config),
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            unet=d.UNet2DConditionModel(
                block_out_channels=(4, 8),
                layers_per_block=1,
                sample_size=32,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                attention_head_dim=(2, 4),
                use_linear_projection=True,
                addition_embed_type="text_time",
                addition_time_embed_dim=8,
                transformer_layers_per_block=(1, 1),
                projection_class_embeddings_input_dim=6 * 8 + 8,
                cross_attention_dim=16,
                norm_num_groups=2,
            ),
            scheduler=d.EulerDiscreteScheduler(
                beta_start=0.00085,
                beta_end=0.012,
                beta_schedule="scaled_linear",
                steps_offset=1,
                timestep_spacing="trailing",
            ),
        )
    target = tmp_path_factory.mktemp("local") / "tiny-sdxl"
    pipeline.save_pretrained(target)
    return target


@pytest.fixture(scope="module")
def sdxl(sdxl_dir: Path) -> DiffusersEngine:
    from generation.backend import load_engine

    return load_engine(str(sdxl_dir), device="cpu")


def request(model: Path, seed: int, **fields: Any) -> GenerationRequest:
    return resolve_request(
        f"prompt {seed}", model=str(model), **{"seed": seed, "width": 64, "height": 64, "steps": 2, **fields}
    )


def test_local_sdxl__batch_progress_and_determinism(sdxl: DiffusersEngine, sdxl_dir: Path) -> None:
    import numpy as np

    assert sdxl.software()["pipeline"] == "StableDiffusionXLPipeline"
    steps: list[int] = []
    requests = [
        request(sdxl_dir, 1, guidance=4.0, negative_prompt="text"),
        request(sdxl_dir, 2, guidance=4.0),
    ]
    batched = sdxl.generate(requests, on_step=lambda step, total: steps.append(step))
    assert steps == [1, 2]
    assert [i.size for i in batched] == [(64, 64), (64, 64)]
    solo = sdxl.generate(requests[:1])[0]
    assert solo.tobytes() == sdxl.generate(requests[:1])[0].tobytes()
    delta = np.abs(np.asarray(solo, dtype=np.int16) - np.asarray(batched[0], dtype=np.int16))
    assert delta.max() <= 1


def test_local_sdxl__cancel(sdxl: DiffusersEngine, sdxl_dir: Path) -> None:
    steps: list[int] = []
    with pytest.raises(GenerationCancelled):
        sdxl.generate(
            [request(sdxl_dir, 1, steps=4)],
            on_step=lambda s, t: steps.append(s),
            should_cancel=lambda: bool(steps),
        )
    assert steps == [1]


def test_local_directory__the_tiny_sd_pipeline_loads_by_path(tiny_cache_dir: Path) -> None:
    from generation._torch.tiny import TINY_DIRNAME
    from generation.backend import load_engine

    path = tiny_cache_dir / TINY_DIRNAME
    engine = load_engine(str(path), device="cpu")
    assert engine.model == str(path)
    assert engine.generate([request(path, 5)])[0].size == (64, 64)
