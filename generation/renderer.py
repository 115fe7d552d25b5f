"""Renderer: runs jobs on one engine and gives every job its own outcome.

A job's outcome is a :class:`GenerationResult` or the :class:`GenerationError` that ended it; one
job's failure never fails its neighbours and never stops the renderer. :meth:`Renderer.draw` stops
before encoding (the accelerator's part) so a caller can encode and sign one batch elsewhere while
the next one renders; :meth:`Renderer.render` does both in this thread. A batch that runs out of
memory (or fails) is retried one job at a time, which gives the same images because every image has
its own generator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from generation.backend import ImageEngine
from generation.batching import DEFAULT_MAX_BATCH, plan_batches
from generation.errors import GenerationCancelled, GenerationError, GenerationFailed, ProvenanceError
from generation.output import Drawn, finish_drawn
from generation.presets import preset_for, resolve
from generation.provenance import ContentSigner
from generation.types import GenerationRequest, GenerationResult, ProgressCallback

Outcome = GenerationResult | GenerationError
DrawnOutcome = Drawn | GenerationError
JobProgress = Callable[[int, int, int], None]
"""``(job_index, step, total)`` after each denoising step of the batch that holds the job."""


class Renderer:
    """Owns an engine and an optional C2PA signer (``None`` switches signing off)."""

    def __init__(
        self, engine: ImageEngine, signer: ContentSigner | None = None, max_batch: int = DEFAULT_MAX_BATCH
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.max_batch = max_batch

    def render(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_progress: JobProgress | None = None,
        is_cancelled: Callable[[int], bool] | None = None,
    ) -> list[Outcome]:
        """:meth:`draw`, then :meth:`finish` each image here, in order; same contract as :meth:`draw`."""
        return [
            drawn if isinstance(drawn, GenerationError) else self.finish(drawn)
            for drawn in self.draw(requests, on_progress=on_progress, is_cancelled=is_cancelled)
        ]

    def finish(self, drawn: Drawn) -> Outcome:
        """Encode and sign one drawn image; a signing failure fails that job only."""
        return finish_outcome(drawn, self.signer)

    def draw(
        self,
        requests: Sequence[GenerationRequest],
        *,
        on_progress: JobProgress | None = None,
        is_cancelled: Callable[[int], bool] | None = None,
    ) -> list[DrawnOutcome]:
        """Render ``requests`` to 8-bit images, batching compatible ones; outcomes in request order.

        ``is_cancelled(i)`` is polled after each step. A batch stops when all its jobs are
        cancelled; a job cancelled while its batch goes on gets :class:`GenerationCancelled` and its
        image is dropped. Requests are resolved (defaults filled) before rendering. Exceptions
        raised by ``on_progress`` or ``is_cancelled`` themselves propagate unchanged.
        """
        outcomes: dict[int, DrawnOutcome] = {}
        resolved: dict[int, GenerationRequest] = {}
        for index, request in enumerate(requests):
            try:
                resolved[index] = resolve(request)
            except GenerationError as exc:
                outcomes[index] = exc
        order = sorted(resolved)
        for batch in plan_batches([resolved[i] for i in order], self.max_batch):
            self._run([order[i] for i in batch], resolved, outcomes, on_progress, is_cancelled)
        return [outcomes[i] for i in range(len(requests))]

    def _run(
        self,
        indices: list[int],
        resolved: dict[int, GenerationRequest],
        outcomes: dict[int, DrawnOutcome],
        on_progress: JobProgress | None,
        is_cancelled: Callable[[int], bool] | None,
    ) -> None:
        cancelled = is_cancelled or (lambda _: False)
        live = []
        for index in indices:
            if cancelled(index):
                outcomes[index] = GenerationCancelled("cancelled before rendering started")
            else:
                live.append(index)
        if not live:
            return

        def batch_progress(step: int, total: int) -> None:
            if on_progress is not None:
                for index in live:
                    on_progress(index, step, total)

        batch_step: ProgressCallback = batch_progress
        started = time.perf_counter()
        try:
            images = self.engine.generate(
                [resolved[i] for i in live], batch_step, lambda: all(cancelled(i) for i in live)
            )
        except GenerationCancelled as exc:
            for index in live:
                outcomes[index] = exc
            return
        except GenerationFailed as exc:
            if len(live) == 1:
                outcomes[live[0]] = exc
                return
            for index in live:
                self._run([index], resolved, outcomes, on_progress, is_cancelled)
            return
        except GenerationError as exc:
            for index in live:
                outcomes[index] = exc
            return
        elapsed = time.perf_counter() - started
        software = self.engine.software()
        for index, image in zip(live, images, strict=True):
            if cancelled(index):
                outcomes[index] = GenerationCancelled("cancelled while its batch was rendering")
                continue
            request = resolved[index]
            outcomes[index] = Drawn(
                image=image,
                request=request,
                render_seconds=elapsed,
                batch_size=len(live),
                notice=preset_for(request.model).notice,
                software=software,
            )


def finish_outcome(drawn: Drawn, signer: ContentSigner | None) -> Outcome:
    """:func:`~generation.output.finish_drawn`, with a signing failure as this job's outcome."""
    try:
        return finish_drawn(drawn, signer)
    except ProvenanceError as exc:
        failure = GenerationFailed(f"image rendered but could not be signed: {exc}")
        failure.__cause__ = exc
        return failure
