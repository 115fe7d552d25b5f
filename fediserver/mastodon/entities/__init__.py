"""Mastodon entities (docs.joinmastodon.org/entities/), one module each, shaped field by field."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(at: datetime) -> str:
    """``2025-01-31T12:34:56.789Z``: 3 fraction digits, uppercase T and Z (Ice Cubes parses only this)."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def iso_date(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d")
