"""A tiny, randomly initialised StableDiffusionPipeline, built fully offline.

It runs the real diffusers code path (tokenizer, text encoder, UNet, scheduler, VAE) in about 60 ms
per 64x64 image on one CPU core. Its weights are random: it draws noise, not the prompt. Component
configs follow diffusers' ``get_dummy_components``; the CLIP tokenizer is written by hand because
diffusers' tests download theirs from the hub.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

# Bump when the components change, so a cache built by an older version is not reused.
TINY_DIRNAME = "tiny-sd-v1"
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from the 256 byte values to printable characters."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {byte: chr(char) for byte, char in zip(printable, chars, strict=True)}


def _write_tokenizer_files(directory: Path) -> None:
    """A byte-level CLIP vocabulary with no merges: every prompt maps to real ids, EOS is the top id."""
    symbols = list(_bytes_to_unicode().values())
    vocab = {symbol: i for i, symbol in enumerate(symbols)}
    vocab.update({symbol + "</w>": 256 + i for i, symbol in enumerate(symbols)})
    vocab[BOS], vocab[EOS] = 512, 513
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def build_tiny_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    """Build the tiny pipeline in memory; the same ``seed`` gives the same weights."""
    with tempfile.TemporaryDirectory() as tok_dir:
        _write_tokenizer_files(Path(tok_dir))
        # The pipeline pads prompts to model_max_length, which otherwise defaults to a huge number.
        tokenizer = CLIPTokenizer.from_pretrained(
            tok_dir, model_max_length=77, bos_token=BOS, eos_token=EOS, unk_token=EOS, pad_token=EOS
        )
    # fork_rng keeps the caller's global RNG state untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(  # type: ignore[no-untyped-call]
            block_out_channels=(4, 8),
            layers_per_block=1,
            sample_size=32,
            in_channels=4,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=8,
            norm_num_groups=2,
        )
        vae = AutoencoderKL(  # type: ignore[no-untyped-call]
            block_out_channels=[4, 8],
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
            up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
            latent_channels=4,
            norm_num_groups=2,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                bos_token_id=512,
                eos_token_id=513,
                pad_token_id=513,
                hidden_size=8,
                intermediate_size=16,
                layer_norm_eps=1e-5,
                num_attention_heads=2,
                num_hidden_layers=2,
                vocab_size=1000,
            )
        )
    scheduler = DDIMScheduler(  # type: ignore[no-untyped-call]
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,  # 0 makes diffusers warn that the config is outdated
    )
    return StableDiffusionPipeline(  # type: ignore[no-untyped-call]
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )


def ensure_tiny_pipeline(cache_dir: Path) -> Path:
    """Return ``cache_dir/tiny-sd-v1``, building and saving the pipeline there first if it is missing.

    The directory appears atomically (built beside it, then renamed), so concurrent callers never
    load a half-written model.
    """
    target = cache_dir / TINY_DIRNAME
    if (target / "model_index.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{TINY_DIRNAME}-", dir=cache_dir))
    try:
        build_tiny_pipeline().save_pretrained(staging)  # type: ignore[attr-defined]
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished first; its copy is identical (same seed), keep it.
            if not (target / "model_index.json").is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target
