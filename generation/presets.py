"""Per-model defaults and the mapping from a model name to where its weights come from.

A model name is one of: a preset alias (``sd-turbo``, ``tiny``...), a Hugging Face hub id
(``stabilityai/sdxl-turbo``; known ids get their preset's defaults), or a path to a local diffusers
directory (one holding ``model_index.json``). Unknown hub ids and local directories get
:data:`GENERIC` defaults, which callers can override per request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from generation.errors import InvalidRequest
from generation.types import DEFAULT_MODEL, GenerationRequest, new_seed

TINY_MODEL = "tiny"
EMULATED_MODEL = "emulated"
EMULATED_NOTICE = "emulated engine for benchmarks: the image is noise drawn without a model"
TINY_NOTICE = "tiny test model with random weights: the image is noise, not a picture of the prompt"


@dataclass(frozen=True)
class ModelPreset:
    """Defaults for one model family.

    ``size_multiple`` is the latent stride the width and height must divide by; ``max_steps`` bounds
    requests for distilled models that get worse with more steps; ``half_precision_ok`` is False for
    models whose activations overflow fp16 (they use bf16 or fp32).
    """

    name: str
    source: str
    steps: int
    guidance: float
    width: int
    height: int
    scheduler: str | None = None
    size_multiple: int = 8
    max_steps: int = 150
    half_precision_ok: bool = True
    notice: str | None = None
    call_options: tuple[tuple[str, int | float | str], ...] = ()


PRESETS: dict[str, ModelPreset] = {
    p.name: p
    for p in (
        # SD-Turbo and SDXL-Turbo are adversarially distilled: 1-4 steps, no classifier-free guidance.
        ModelPreset("sd-turbo", "stabilityai/sd-turbo", steps=1, guidance=0.0, width=512, height=512, max_steps=4),
        ModelPreset("sdxl-turbo", "stabilityai/sdxl-turbo", steps=1, guidance=0.0, width=512, height=512, max_steps=4),
        ModelPreset(
            "sd15",
            "stable-diffusion-v1-5/stable-diffusion-v1-5",
            steps=25,
            guidance=7.5,
            width=512,
            height=512,
        ),
        ModelPreset(
            "sdxl",
            "stabilityai/stable-diffusion-xl-base-1.0",
            steps=30,
            guidance=7.0,
            width=1024,
            height=1024,
        ),
        # FLUX latents are 2x2-packed after the 8x VAE, hence 16; its activations overflow fp16.
        ModelPreset(
            "flux-schnell",
            "black-forest-labs/FLUX.1-schnell",
            steps=4,
            guidance=0.0,
            width=1024,
            height=1024,
            size_multiple=16,
            max_steps=8,
            half_precision_ok=False,
            call_options=(("max_sequence_length", 256),),
        ),
        ModelPreset(
            TINY_MODEL,
            TINY_MODEL,
            steps=2,
            guidance=0.0,
            width=64,
            height=64,
            max_steps=50,
            notice=TINY_NOTICE,
        ),
        # generation.emulated: SD-Turbo's defaults, no accelerator ("emulated:MS" sets the delay).
        ModelPreset(
            EMULATED_MODEL,
            EMULATED_MODEL,
            steps=1,
            guidance=0.0,
            width=512,
            height=512,
            max_steps=50,
            notice=EMULATED_NOTICE,
        ),
    )
}

# Request scheduler names -> diffusers scheduler classes; None keeps the one the model ships with.
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "dpmpp_2m": "DPMSolverMultistepScheduler",
    "unipc": "UniPCMultistepScheduler",
    "lcm": "LCMScheduler",
    "flow_euler": "FlowMatchEulerDiscreteScheduler",
}

GENERIC = ModelPreset("generic", "", steps=30, guidance=7.0, width=512, height=512)

_BY_SOURCE = {p.source: p for p in PRESETS.values()}

# Width and height beyond this are refused: a bad request should fail fast, not exhaust memory.
MAX_SIDE = 4096


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights are: the tiny builder, a hub id, or a local directory."""

    kind: str  # "tiny" | "hub" | "local"
    location: str


def canonical_model(model: str) -> str:
    """The name recorded in requests: the preset alias for known hub ids, else ``model`` unchanged."""
    known = _BY_SOURCE.get(model)
    return known.name if known is not None else model


def preset_for(model: str) -> ModelPreset:
    """The preset for an alias or a known hub id, else :data:`GENERIC` renamed to ``model``."""
    if model.startswith(EMULATED_MODEL + ":"):
        return replace(PRESETS[EMULATED_MODEL], name=model, source=model)
    found = PRESETS.get(model) or _BY_SOURCE.get(model)
    return found if found is not None else replace(GENERIC, name=model, source=model)


def model_source(model: str) -> ModelSource:
    """Say where ``model`` loads from; raises :class:`InvalidRequest` for a missing local path."""
    preset = preset_for(model)
    if preset.name == TINY_MODEL:
        return ModelSource("tiny", TINY_MODEL)
    source = preset.source
    if source.startswith(("/", "./", "../", "~")) or Path(source).expanduser().is_dir():
        path = Path(source).expanduser()
        if not (path / "model_index.json").is_file():
            raise InvalidRequest(f"{source!r} is not a diffusers model directory (no model_index.json)")
        return ModelSource("local", str(path.resolve()))
    if source.count("/") != 1:
        raise InvalidRequest(
            f"unknown model {model!r}: use one of {sorted(PRESETS)}, a hub id 'owner/name' or a local directory"
        )
    return ModelSource("hub", source)


def resolve_request(
    prompt: str,
    *,
    seed: int | None = None,
    negative_prompt: str = "",
    steps: int | None = None,
    guidance: float | None = None,
    width: int | None = None,
    height: int | None = None,
    model: str = DEFAULT_MODEL,
    scheduler: str | None = None,
) -> GenerationRequest:
    """Build a validated request with every default filled in and a seed drawn when none is given."""
    return resolve(
        GenerationRequest(
            prompt=prompt,
            seed=new_seed() if seed is None else seed,
            negative_prompt=negative_prompt,
            steps=steps,
            guidance=guidance,
            width=width,
            height=height,
            model=model,
            scheduler=scheduler,
        )
    )


def resolve(request: GenerationRequest) -> GenerationRequest:
    """Fill ``None`` fields from the model's preset and validate; raises :class:`InvalidRequest`."""
    preset = preset_for(request.model)
    resolved = replace(
        request,
        model=canonical_model(request.model),
        steps=preset.steps if request.steps is None else request.steps,
        guidance=preset.guidance if request.guidance is None else request.guidance,
        width=preset.width if request.width is None else request.width,
        height=preset.height if request.height is None else request.height,
        scheduler=preset.scheduler if request.scheduler is None else request.scheduler,
    )
    validate(resolved, preset)
    return resolved


def validate(request: GenerationRequest, preset: ModelPreset | None = None) -> None:
    """Raise :class:`InvalidRequest` with a message a user can act on if ``request`` cannot render."""
    preset = preset or preset_for(request.model)
    if request.steps is None or request.guidance is None or request.width is None or request.height is None:
        raise InvalidRequest("request is not resolved: steps, guidance, width and height are required")
    for name, value in (("steps", request.steps), ("width", request.width), ("height", request.height)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidRequest(f"{name} must be an integer, got {value!r}")
    if not request.prompt.strip():
        raise InvalidRequest("prompt is empty")
    for name, text in (("prompt", request.prompt), ("negative_prompt", request.negative_prompt)):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest(f"{name} is not valid Unicode (lone surrogate)") from None
    if not 1 <= request.steps <= preset.max_steps:
        raise InvalidRequest(f"steps must be 1..{preset.max_steps} for {preset.name}, got {request.steps}")
    if request.scheduler is not None and request.scheduler not in SCHEDULERS:
        raise InvalidRequest(f"unknown scheduler {request.scheduler!r}: use one of {sorted(SCHEDULERS)}")
    if not 0.0 <= request.guidance <= 30.0:
        raise InvalidRequest(f"guidance must be in 0..30, got {request.guidance}")
    for side, value in (("width", request.width), ("height", request.height)):
        if not preset.size_multiple <= value <= MAX_SIDE or value % preset.size_multiple:
            raise InvalidRequest(
                f"{side} must be a multiple of {preset.size_multiple} between {preset.size_multiple} and "
                f"{MAX_SIDE} for {preset.name}, got {value}"
            )
