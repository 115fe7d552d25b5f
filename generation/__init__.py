"""Image generation engine for fediserver.

``import generation`` loads no torch, diffusers or c2pa: only the value types, presets and errors.
The torch side lives in ``generation._torch`` and is reached through :func:`generation.backend.load_engine`.
Typical use in a worker::

    from generation import resolve_request
    from generation.backend import load_engine
    from generation.provenance import ContentSigner, InstanceCertificates
    from generation.renderer import Renderer

    engine = load_engine("sd-turbo")                   # or "tiny" with cache_dir=...
    renderer = Renderer(engine, signer=ContentSigner(InstanceCertificates.load(path)))
    outcomes = renderer.render([resolve_request("a lighthouse at dusk")])
"""

from __future__ import annotations

from generation.errors import (
    GenerationCancelled,
    GenerationError,
    GenerationFailed,
    InvalidRequest,
    OutOfMemory,
    ProvenanceError,
)
from generation.presets import PRESETS, TINY_MODEL, ModelPreset, preset_for, resolve, resolve_request
from generation.types import DEFAULT_MODEL, BatchKey, GenerationRequest, GenerationResult, new_seed

__all__ = [
    "DEFAULT_MODEL",
    "PRESETS",
    "TINY_MODEL",
    "BatchKey",
    "GenerationCancelled",
    "GenerationError",
    "GenerationFailed",
    "GenerationRequest",
    "GenerationResult",
    "InvalidRequest",
    "ModelPreset",
    "OutOfMemory",
    "ProvenanceError",
    "new_seed",
    "preset_for",
    "resolve",
    "resolve_request",
]
