"""The job handlers this build provides: inbox processing, delivery and rel=me link checks.

Generation joins them with the GPU worker (issue 5).
"""

from __future__ import annotations

from fediserver.domain.link_checks import LinkCheckHandler
from fediserver.federation.context import Federation
from fediserver.federation.delivery import DeliveryHandler
from fediserver.federation.inbound.dispatch import InboxHandler
from fediserver.jobs.worker import JobHandler


def build_handlers(fed: Federation) -> list[JobHandler]:
    return [InboxHandler(fed), DeliveryHandler(fed), LinkCheckHandler(fed)]
