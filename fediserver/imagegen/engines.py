"""Engines, the C2PA chain and the encoding pool for the GPU worker, built at its start (never at import).

torch is imported here only when a renderer loads a diffusers model, in the GPU worker process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from generation.renderer import Renderer

if TYPE_CHECKING:
    from generation.finishing import Finisher
    from generation.provenance import InstanceCertificates

RendererFactory = Callable[[str], Renderer]


def instance_certificates(settings: Any) -> InstanceCertificates | None:
    """The C2PA chain when ``generation.c2pa`` is on, made and saved on first use; else None."""
    from generation.provenance import InstanceCertificates, create_instance_certificates

    if not settings.generation.c2pa:
        return None
    directory = settings.certificates_dir
    try:
        return InstanceCertificates.load(directory)
    except FileNotFoundError:
        certificates = create_instance_certificates(settings.instance.domain)
        certificates.save(directory)
        return certificates


def build_finisher(settings: Any, certificates: InstanceCertificates | None) -> Finisher | None:
    """The encoding pool of ``generation.finish_processes`` (-1: cores - 1), started and warm; None for 0."""
    from generation.finishing import Finisher, default_processes

    processes = settings.generation.finish_processes
    if processes == -1:
        processes = default_processes()
    if processes == 0:
        return None
    finisher = Finisher(processes, certificates=certificates)
    finisher.warm_up()
    return finisher


def renderer_factory(settings: Any, certificates: InstanceCertificates | None = None) -> RendererFactory:
    """Load engines on demand, one model at a time; torch is imported here, in the GPU worker only.
    With ``generation.compile`` a loaded engine is warmed up (``ImageEngine.warm_up``) before it renders.

    ``certificates`` defaults to :func:`instance_certificates`.
    """
    from generation.backend import open_engine
    from generation.provenance import ContentSigner

    if certificates is None:
        certificates = instance_certificates(settings)
    signer = ContentSigner(certificates) if certificates is not None else None
    current: dict[str, Renderer] = {}

    def renderer_for(model: str) -> Renderer:
        if model not in current:
            current.clear()
            engine = open_engine(
                model,
                cache_dir=settings.model_cache_dir,
                device=settings.generation.device,
                dtype=settings.generation.dtype,
                compile=settings.generation.compile,
                compile_mode=settings.generation.compile_mode,
                max_batch=settings.generation.max_batch,
            )
            if settings.generation.compile:
                # Every batch shape traced now, not while the first jobs of each size wait (issue 14).
                # The configured model's jobs default to the configured size; any other, to its preset's.
                configured = model == settings.generation.model
                gen = settings.generation
                engine.warm_up(gen.width if configured else None, gen.height if configured else None)
            current[model] = Renderer(engine, signer, max_batch=settings.generation.max_batch)
        return current[model]

    return renderer_for
