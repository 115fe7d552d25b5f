"""Device and dtype choice."""

from __future__ import annotations

import torch

from generation.errors import InvalidRequest

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def choose_device(requested: str = "auto") -> str:
    """``requested`` unless it is ``auto``; then cuda, else mps, else cpu, whichever is present."""
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def choose_dtype(device: str, requested: str = "auto", *, half_precision_ok: bool = True) -> torch.dtype:
    """The dtype for ``device``: bf16 where the GPU has it, else fp16 if the model tolerates it; fp32 on CPU.

    Models with ``half_precision_ok=False`` (FLUX) overflow in fp16; on a GPU without bf16 they run in fp32.
    """
    if requested != "auto":
        try:
            return _DTYPES[requested]
        except KeyError:
            raise InvalidRequest(f"unknown dtype {requested!r}: use one of {sorted(_DTYPES)} or 'auto'") from None
    if device.startswith("cuda"):
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if half_precision_ok else torch.float32
    if device.startswith("mps"):
        return torch.float16 if half_precision_ok else torch.float32
    return torch.float32


def dtype_name(dtype: torch.dtype) -> str:
    """``bfloat16`` for ``torch.bfloat16`` and so on."""
    return str(dtype).removeprefix("torch.")
