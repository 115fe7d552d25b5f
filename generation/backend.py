"""The seam between the torch-free code and the diffusers engine.

:class:`ImageEngine` is what the renderer and the worker depend on; :func:`load_engine` imports the
torch side only when called, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict, Unpack

from PIL import Image

from generation.assist import AssistRequest, AssistResult, TokenSink
from generation.assist import CancelCheck as AssistCancel
from generation.batching import DEFAULT_MAX_BATCH
from generation.types import CancelCheck, GenerationRequest, ProgressCallback

if TYPE_CHECKING:
    from generation._torch.engine import DiffusersEngine


class ImageEngine(Protocol):
    """Renders batch-compatible, resolved requests for one model (see ``DiffusersEngine.generate``)."""

    @property
    def model(self) -> str: ...

    def software(self) -> dict[str, str]: ...

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        on_step: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> list[Image.Image]: ...

    def warm_up(self, width: int | None = None, height: int | None = None) -> dict[int, float]:
        """Prepare every batch shape the engine will be given at that size before the first job (see
        ``DiffusersEngine.warm_up``); returns seconds per batch size."""
        ...


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
    """Load a :class:`~generation._torch.engine.DiffusersEngine`; this imports torch and diffusers."""
    from generation._torch.engine import load_engine as load

    return load(
        model,
        cache_dir=cache_dir,
        device=device,
        dtype=dtype,
        compile=compile,
        compile_mode=compile_mode,
        max_batch=max_batch,
        channels_last=channels_last,
        variant=variant,
    )


class WritingEngine(Protocol):
    """Answers writing-help requests (see ``generation._torch.assist_engine.AssistEngine.run``)."""

    def run(
        self, request: AssistRequest, on_token: TokenSink | None = None, should_cancel: AssistCancel | None = None
    ) -> AssistResult: ...


def load_assist_engine(
    *,
    text_model: str,
    caption_model: str,
    cache_dir: Path,
    device: str = "auto",
    dtype: str = "auto",
    budget_bytes: int = 8 * 1024**3,
) -> WritingEngine:
    """Load the writing-help engine (models load on first use); this imports torch and transformers."""
    from generation._torch.assist_engine import load_assist_engine as load

    return load(
        text_model=text_model,
        caption_model=caption_model,
        cache_dir=cache_dir,
        device=device,
        dtype=dtype,
        budget_bytes=budget_bytes,
    )


class EngineOptions(TypedDict, total=False):
    """The keyword options of :func:`load_engine`, for callers that pass them through."""

    cache_dir: Path | None
    device: str
    dtype: str
    compile: bool
    compile_mode: str
    max_batch: int
    channels_last: bool
    variant: str | None


def open_engine(model: str, **options: Unpack[EngineOptions]) -> ImageEngine:
    """:func:`load_engine`, except that ``emulated`` and ``emulated:MS`` give an
    :class:`~generation.emulated.EmulatedEngine` (no torch, no accelerator; the options do not apply)."""
    from generation.emulated import EmulatedEngine, is_emulated

    if is_emulated(model):
        return EmulatedEngine(model)
    return load_engine(model, **options)
