"""Typed errors raised by the protocol library.

None of them carries an HTTP status code: mapping errors to responses is the application's job.
"""

from __future__ import annotations


class ActivityPubError(Exception):
    """Base class of every error raised by `activitypub`."""


class SignatureError(ActivityPubError):
    """A signature (cavage, RFC 9421 or LD) is missing, malformed, expired or does not verify."""


class KeyMismatchError(SignatureError):
    """The signature is well-formed and in time but does not verify with the key given.

    The only signature failure that re-fetching the key can cure (key rotation).
    """


class DigestError(SignatureError):
    """A `Digest` or `Content-Digest` header is missing, malformed or does not match the body."""


class KeyLoadError(ActivityPubError):
    """A key could not be loaded, or has a type the operation does not support."""


class StructuredFieldError(ActivityPubError):
    """A header value is not a valid RFC 8941 structured field."""


class FetchError(ActivityPubError):
    """A remote document could not be fetched or is not an acceptable ActivityStreams document."""


class UnsafeURLError(FetchError):
    """The outbound guard refused a URL (scheme, or an address that is not public)."""


class InvalidObject(ActivityPubError):
    """A JSON(-LD) document lacks a required property or has one of the wrong shape."""


class WebFingerError(FetchError):
    """A WebFinger lookup failed or its JRD does not satisfy Mastodon's rules."""


class RemoteStatusError(FetchError):
    """The remote answered with an unexpected HTTP status; `retry_after` is its raw header, if any."""

    def __init__(self, message: str, status: int, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


__all__ = [
    "ActivityPubError",
    "DigestError",
    "FetchError",
    "InvalidObject",
    "KeyLoadError",
    "KeyMismatchError",
    "RemoteStatusError",
    "SignatureError",
    "StructuredFieldError",
    "UnsafeURLError",
    "WebFingerError",
]
