"""The job handlers this build provides, built from settings at start-up.

Inbox processing and delivery arrive with the federation work, generation with the GPU worker; until
then the list is empty and ``fediserver worker`` says so instead of idling.
"""

from __future__ import annotations

from fediserver.config import Settings
from fediserver.jobs.worker import JobHandler


def build_handlers(settings: Settings) -> list[JobHandler]:
    del settings
    return []
