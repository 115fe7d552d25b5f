"""Errors raised by the generation engine.

Every error a caller must react to per job derives from :class:`GenerationError`, so a worker can
fail one job and keep serving the next one.
"""

from __future__ import annotations


class GenerationError(Exception):
    """Base class: the job did not produce an image."""


class InvalidRequest(GenerationError, ValueError):
    """The request can never succeed as given (bad size, unknown model, bad steps...)."""


class GenerationCancelled(GenerationError):
    """The job was cancelled while it was running; no image was decoded."""


class GenerationFailed(GenerationError):
    """The pipeline raised while rendering; the message says why, the cause is chained."""


class OutOfMemory(GenerationFailed):
    """The accelerator ran out of memory; the engine freed its cache and can take the next job."""


class ProvenanceError(Exception):
    """Signing or reading a C2PA manifest failed."""
