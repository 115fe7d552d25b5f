"""Errors that carry a safe message and an HTTP status; the app maps them to JSON responses."""

from __future__ import annotations


class AppError(Exception):
    """An error whose message is safe to show to the client."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AppError):
    status_code = 422


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class Gone(AppError):
    """It existed and was deleted (a deleted account, checklist 2)."""

    status_code = 410


class NotAvailable(AppError):
    """The feature exists in the CLI or API but its machinery is not built yet."""

    status_code = 501


class Suspended(AppError):
    """The account is suspended by a moderator: its content is withheld (Mastodon answers 403)."""

    status_code = 403


class TooManyRequests(AppError):
    """A per-user quota is used up (the daily generation limit); the reason says which and until when."""

    status_code = 429
