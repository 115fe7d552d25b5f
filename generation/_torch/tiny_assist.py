"""Tiny random-weight models for the assist tasks, built fully offline (docs/assist.md §4).

``tiny-lm``: a Llama-type causal LM (Llama keeps a saved byte-level tokenizer faithful, unlike Qwen2's
auto tokenizer) with a byte-level BPE tokenizer without merges and a ChatML chat template.
``tiny-captioner``: BLIP with a hand-written BERT vocabulary and a 32x32 image processor.
Both run the real transformers code path in milliseconds; what they write is noise.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    BertTokenizer,
    BlipConfig,
    BlipForConditionalGeneration,
    BlipProcessor,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

# Bump when a component changes, so a cache built by an older version is not reused.
TINY_LM_DIRNAME = "tiny-assist-lm-v1"
TINY_CAPTIONER_DIRNAME = "tiny-assist-captioner-v1"
PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CAPTION_WORDS = ("a", "cat", "dog", "photo", "of", "the", "red", "blue", "on", "grass", "sky", "fox", "lighthouse")


def save_tiny_lm(directory: Path, seed: int = 0) -> None:
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    for special in (PAD, IM_START, IM_END):
        vocab[special] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(s, special=True) for s in (PAD, IM_START, IM_END)])
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=backend, eos_token=IM_END, pad_token=PAD, padding_side="left", chat_template=CHAT_TEMPLATE
    )
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=37,
        max_position_embeddings=2048,
        eos_token_id=vocab[IM_END],
        pad_token_id=vocab[PAD],
        bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def save_tiny_captioner(directory: Path, seed: int = 0) -> None:
    from transformers import BlipImageProcessorPil

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *CAPTION_WORDS])}
    # transformers 5 silently ignores vocab_file=: the vocabulary must come as vocab= (docs/assist.md §4.3).
    tokenizer = BertTokenizer(vocab=vocab, bos_token="[DEC]")
    config = BlipConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 37,
            "bos_token_id": vocab["[DEC]"],
            "pad_token_id": vocab["[PAD]"],
            "sep_token_id": vocab["[SEP]"],
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 37,
        },
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BlipForConditionalGeneration(config)
    processor = BlipProcessor(  # type: ignore[no-untyped-call]
        image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    model.save_pretrained(directory)
    processor.save_pretrained(directory)


def _ensure(cache_dir: Path, dirname: str, build: Callable[[Path], None]) -> Path:
    """``cache_dir/dirname``, built beside it and renamed into place, so no caller loads half a model."""
    target = cache_dir / dirname
    if (target / "config.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dirname}-", dir=cache_dir))
    try:
        build(staging)
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished first; its copy is identical (same seed), keep it.
            if not (target / "config.json").is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def ensure_tiny_lm(cache_dir: Path) -> Path:
    return _ensure(cache_dir, TINY_LM_DIRNAME, save_tiny_lm)


def ensure_tiny_captioner(cache_dir: Path) -> Path:
    return _ensure(cache_dir, TINY_CAPTIONER_DIRNAME, save_tiny_captioner)
