"""Value types of the generation engine: requests, results, batch keys.

Nothing here imports torch: the web app and the queue handle these values without the GPU stack.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_MODEL = "sd-turbo"

# Seeds are kept below 2**53 when we draw them so they survive a JSON round trip through JavaScript
# clients unchanged; callers may pass any seed that torch accepts.
_DRAWN_SEED_LIMIT = 2**53
MAX_SEED = 2**63 - 1


def new_seed() -> int:
    """Return a fresh random seed in ``[0, 2**53)`` from the OS random source."""
    return secrets.randbelow(_DRAWN_SEED_LIMIT)


@dataclass(frozen=True)
class BatchKey:
    """Requests with equal keys can be rendered in one pipeline call."""

    model: str
    width: int
    height: int
    steps: int
    guidance: float
    scheduler: str | None


@dataclass(frozen=True)
class GenerationRequest:
    """One image to render.

    ``seed`` is always explicit. ``None`` in ``steps``, ``guidance``, ``width``, ``height`` and
    ``scheduler`` means "the model's default"; :func:`generation.presets.resolve_request` fills them,
    and the engine renders only resolved requests (``scheduler=None`` stays and means the scheduler
    the model ships with).
    """

    prompt: str
    seed: int
    negative_prompt: str = ""
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    height: int | None = None
    model: str = DEFAULT_MODEL
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in [0, {MAX_SEED}], got {self.seed!r}")

    @property
    def is_resolved(self) -> bool:
        """True when every size and sampling field has a concrete value."""
        return None not in (self.steps, self.guidance, self.width, self.height)

    def batch_key(self) -> BatchKey:
        """The key under which this request may share a pipeline call; needs a resolved request."""
        if self.steps is None or self.guidance is None or self.width is None or self.height is None:
            raise ValueError("batch_key() needs a resolved request (see presets.resolve_request)")
        return BatchKey(self.model, self.width, self.height, self.steps, self.guidance, self.scheduler)

    def parameters(self) -> dict[str, Any]:
        """Everything needed to reproduce the image, as JSON-compatible values."""
        return {
            "model": self.model,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "steps": self.steps,
            "guidance": self.guidance,
            "width": self.width,
            "height": self.height,
            "scheduler": self.scheduler,
        }


@dataclass(frozen=True)
class GenerationResult:
    """A finished image with its encodings and the exact request that produced it.

    ``png`` is the original (XMP, a ``parameters`` text chunk and, when signing is on, a C2PA
    manifest), ``webp`` the web rendition (XMP and C2PA as well), ``thumbnail`` a small WebP with XMP.
    ``render_seconds`` is the wall time of the pipeline call that drew this image, shared with the
    other images of its batch (``batch_size``).
    """

    request: GenerationRequest
    png: bytes
    webp: bytes
    thumbnail: bytes
    width: int
    height: int
    thumbnail_width: int
    thumbnail_height: int
    blurhash: str
    signed: bool
    render_seconds: float
    batch_size: int
    notice: str | None = None
    software: dict[str, str] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """The reproduction parameters (see :meth:`GenerationRequest.parameters`)."""
        return self.request.parameters()


class ProgressCallback(Protocol):
    """Called after each denoising step with ``(step, total)``, ``step`` counting from 1."""

    def __call__(self, step: int, total: int, /) -> None: ...


class CancelCheck(Protocol):
    """Polled after each step; returning True cancels the call."""

    def __call__(self) -> bool: ...
