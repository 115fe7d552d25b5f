"""Turn a rendered image into a :class:`~generation.types.GenerationResult`.

Order matters: XMP is written into each encoding first, the C2PA manifest is signed last, and the
signed bytes are never re-encoded (that would drop both).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from PIL import Image

from generation import images
from generation.provenance import ContentSigner, manifest_definition
from generation.types import GenerationRequest, GenerationResult


@dataclass(frozen=True)
class Drawn:
    """A rendered 8-bit RGB image waiting for :func:`finish`, with what finish records about its render.

    Picklable, so a process pool can finish it (see :mod:`generation.finishing`).
    """

    image: Image.Image
    request: GenerationRequest
    render_seconds: float = 0.0
    batch_size: int = 1
    notice: str | None = None
    software: dict[str, str] = field(default_factory=dict)


_ENCODERS: ThreadPoolExecutor | None = None
_ENCODERS_LOCK = threading.Lock()


def _encoders() -> ThreadPoolExecutor:
    """Two threads for the WebP and thumbnail encodes, started on first use (Pillow's encoders release the GIL)."""
    global _ENCODERS
    with _ENCODERS_LOCK:
        if _ENCODERS is None:
            _ENCODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="encode")
        return _ENCODERS


def finish(
    image: Image.Image,
    request: GenerationRequest,
    *,
    signer: ContentSigner | None,
    software: dict[str, str],
    render_seconds: float = 0.0,
    batch_size: int = 1,
    notice: str | None = None,
) -> GenerationResult:
    """Encode ``image`` as PNG, WebP and thumbnail with XMP, sign PNG and WebP when ``signer`` is set.

    The request's parameters travel in the PNG's ``parameters`` chunk, in the C2PA manifest and in
    the result. Raises :class:`~generation.errors.ProvenanceError` if signing fails.

    The WebP and the thumbnail are encoded on two helper threads (each from its own copy of the
    image) while this thread encodes the PNG, computes the blurhash and signs; the signer is only used
    from this thread.
    """
    image = image.convert("RGB")
    parameters = request.parameters()
    description = f"AI-generated image ({request.model}, seed {request.seed}): {request.prompt}"
    if notice is not None:
        description = f"{description} [{notice}]"
    creator = f"fediserver {software.get('fediserver', '')} / diffusers {software.get('diffusers', '')}"
    xmp = images.xmp_packet(description, creator.strip())
    pool = _encoders()
    webp_job = pool.submit(images.encode_webp, image.copy(), xmp)
    thumb_job = pool.submit(images.thumbnail, image.copy(), xmp)
    png = images.encode_png(image, xmp, parameters)
    blurhash = images.blurhash_of(image)
    if signer is not None:
        png = signer.sign(png, "image/png", manifest_definition("generated.png", parameters, software))
    webp = webp_job.result()
    if signer is not None:
        webp = signer.sign(webp, "image/webp", manifest_definition("generated.webp", parameters, software))
    thumb, thumb_width, thumb_height = thumb_job.result()
    return GenerationResult(
        request=request,
        png=png,
        webp=webp,
        thumbnail=thumb,
        width=image.width,
        height=image.height,
        thumbnail_width=thumb_width,
        thumbnail_height=thumb_height,
        blurhash=blurhash,
        signed=signer is not None,
        render_seconds=render_seconds,
        batch_size=batch_size,
        notice=notice,
        software=dict(software),
    )


def finish_drawn(drawn: Drawn, signer: ContentSigner | None) -> GenerationResult:
    """:func:`finish` for a :class:`Drawn` image."""
    return finish(
        drawn.image,
        drawn.request,
        signer=signer,
        software=drawn.software,
        render_seconds=drawn.render_seconds,
        batch_size=drawn.batch_size,
        notice=drawn.notice,
    )
