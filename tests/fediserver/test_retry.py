"""Retry policy: a pure function of attempt, time and the server's hints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fediserver.jobs.retry import Backoff, next_attempt, parse_retry_after

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BACKOFF = Backoff(initial=timedelta(seconds=30), factor=2.0, cap=timedelta(hours=6))


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 15, 30), (2, 30, 60), (5, 240, 480), (20, 10800, 21600)])
def test_backoff__grows_exponentially_within_jitter_bounds(attempt: int, low: float, high: float) -> None:
    assert BACKOFF.delay(attempt, rand=lambda: 0.0).total_seconds() == low
    assert BACKOFF.delay(attempt, rand=lambda: 1.0).total_seconds() == high


def test_backoff__rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match="attempt"):
        BACKOFF.delay(0)


@pytest.mark.parametrize("status", [404, 410, 451])
def test_next_attempt__permanent_statuses_give_up(status: int) -> None:
    assert next_attempt(1, NOW, None, backoff=BACKOFF, status=status) is None


def test_next_attempt__retry_after_wins_when_longer() -> None:
    when = next_attempt(1, NOW, None, backoff=BACKOFF, retry_after=timedelta(hours=2), rand=lambda: 1.0)
    assert when == NOW + timedelta(hours=2)
    short = next_attempt(1, NOW, None, backoff=BACKOFF, retry_after=timedelta(seconds=1), rand=lambda: 1.0)
    assert short == NOW + timedelta(seconds=30)


def test_next_attempt__gives_up_past_the_horizon() -> None:
    assert next_attempt(3, NOW, NOW + timedelta(seconds=10), backoff=BACKOFF, rand=lambda: 0.0) is None
    assert next_attempt(3, NOW, NOW + timedelta(hours=1), backoff=BACKOFF, rand=lambda: 0.0) is not None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", timedelta(seconds=120)),
        ("Sun, 01 Nov 2026 13:00:00 GMT", timedelta(hours=1)),
        ("Sun, 01 Nov 2026 11:00:00 GMT", timedelta(0)),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: timedelta | None) -> None:
    assert parse_retry_after(header, NOW) == expected
