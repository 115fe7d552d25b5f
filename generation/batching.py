"""Micro-batching: which waiting requests may share one pipeline call.

Requests are compatible when their :class:`~generation.types.BatchKey` (model, size, steps, guidance,
scheduler) is equal. Batches are formed in arrival order: the oldest waiting request always goes in
the next batch, joined by the compatible requests behind it, so no request waits behind a stream of
newer, better-batching ones.

A compiled pipeline (``generation.compile``) is traced once per input shape; :func:`bucket_sizes` are
the batch sizes it is traced for at start, and a batch is padded up to :func:`bucket_for` its size, so
no request ever waits for a recompile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from generation.types import BatchKey, GenerationRequest

T = TypeVar("T")

DEFAULT_MAX_BATCH = 4


def take_batch(waiting: Sequence[T], key: Callable[[T], BatchKey], max_batch: int = DEFAULT_MAX_BATCH) -> list[T]:
    """The head of ``waiting`` plus up to ``max_batch - 1`` later items with the same key, in order."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    if not waiting:
        return []
    head_key = key(waiting[0])
    return [item for item in waiting if key(item) == head_key][:max_batch]


def plan_batches(requests: Sequence[GenerationRequest], max_batch: int = DEFAULT_MAX_BATCH) -> list[list[int]]:
    """Split resolved ``requests`` into batches of indices, each batch as :func:`take_batch` would pick."""
    pending = list(range(len(requests)))
    batches: list[list[int]] = []
    while pending:
        batch = take_batch(pending, lambda i: requests[i].batch_key(), max_batch)
        batches.append(batch)
        taken = set(batch)
        pending = [i for i in pending if i not in taken]
    return batches


def bucket_sizes(max_batch: int) -> list[int]:
    """The batch sizes a compiled pipeline is warmed up for: the powers of two below ``max_batch``, and
    ``max_batch`` itself (1, 2, 4, 8 for 8; 1, 2, 4, 6 for 6). A padded image costs less than a trace."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    sizes = []
    size = 1
    while size < max_batch:
        sizes.append(size)
        size *= 2
    return [*sizes, max_batch]


def bucket_for(count: int, buckets: Sequence[int]) -> int:
    """The smallest of ``buckets`` that holds ``count`` images; ``count`` itself above the largest."""
    return min((size for size in buckets if size >= count), default=count)
