"""How the worker runs one claimed batch: in groups, oldest first within a group, the groups concurrently.

Two ways to keep jobs in order: a handler's ``partition(job) -> str | None`` (the inbox: one sender's
activities in the order received, within a batch) and its ``in_order_of`` column (deliveries: one inbox's
activities in the order enqueued; the inbox: one sender's; ``queue.claim_ids`` keeps that order across
passes and processes).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from fediserver.jobs.queue import Claimed

# Jobs of one ``in_order_of`` key that run in one pass at most; the rest go back to the queue for the
# next. They run one after another, so a pass with a slow key lasts up to this many of its timeouts, and
# a long queue to one slow inbox can neither hold the other inboxes' next pass nor outlive its lease.
MAX_IN_ORDER_PER_PASS = 8


def plan_pass(
    handler: object, claimed: Sequence[Claimed], rows: dict[int, Any]
) -> tuple[list[list[Claimed]], list[Claimed]]:
    """(groups to run, jobs to hand back untried) for a claimed batch."""
    groups = partitions(handler, claimed, rows)
    if getattr(handler, "in_order_of", None) is None:
        return groups, []
    returned = [job for jobs in groups for job in jobs[MAX_IN_ORDER_PER_PASS:]]
    return [jobs[:MAX_IN_ORDER_PER_PASS] for jobs in groups], returned


def partitions(
    handler: object, claimed: Sequence[Claimed], rows: dict[int, Any], *, by_key: bool = False
) -> list[list[Claimed]]:
    """The claimed jobs in groups that run one after another, oldest first; the groups run concurrently, or
    with ``by_key`` one after another in the order of their keys (then the ungrouped jobs, oldest first).

    A handler with a ``partition(job) -> str | None`` method keeps jobs with the same key in one group (the
    inbox: one sender's activities in the order received, so a Create is not overtaken by its Delete);
    so does one with an ``in_order_of`` column (deliveries: one inbox's activities in the order enqueued,
    which the claim also keeps across passes and processes). Every other job, and a job whose row could
    not be loaded, is a group of its own.
    """
    partition: Callable[[Any], str | None] | None = getattr(handler, "partition", None)
    column: str | None = getattr(handler, "in_order_of", None)
    if partition is None and column is not None:
        partition = operator.attrgetter(column)
    groups: dict[object, list[Claimed]] = {}
    for job in sorted(claimed, key=lambda c: c.id):
        row = rows.get(job.id)
        key = partition(row) if partition is not None and row is not None else None
        groups.setdefault(("job", job.id) if key is None else key, []).append(job)
    if by_key:
        return [
            groups[key]
            for key in sorted(groups, key=lambda k: (1, "", k[1]) if isinstance(k, tuple) else (0, str(k), 0))
        ]
    return list(groups.values())
