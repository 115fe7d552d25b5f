"""A user's posting defaults: visibility, sensitive media and language of new posts.

Mastodon keeps them as the account's ``source[privacy]``, ``source[sensitive]`` and ``source[language]``
(MD:/methods/accounts/#update_credentials) and reports them in ``/api/v1/preferences``.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.errors import InvalidInput
from fediserver.models import User

# Mastodon refuses ``direct`` as a default (``Account``'s ``privacy`` validation).
DEFAULT_VISIBILITIES = ("public", "unlisted", "followers")

# ISO 639-1 (two letters) or 639-3 (three), as Mastodon's ``LanguageValidator`` accepts.
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


async def set_posting_defaults(
    session: AsyncSession,
    user: User,
    *,
    visibility: str | None = None,
    sensitive: bool | None = None,
    language: str | None = None,
) -> None:
    """Change what is given; ``language`` ``""`` clears it. The caller commits."""
    if visibility is not None:
        if visibility not in DEFAULT_VISIBILITIES:
            raise InvalidInput(f"privacy: one of {', '.join(DEFAULT_VISIBILITIES)}")
        user.default_visibility = visibility
    if sensitive is not None:
        user.default_sensitive = sensitive
    if language is not None:
        code = language.strip().lower()
        if code and not _LANGUAGE.match(code):
            raise InvalidInput(f"language: {language!r} is not an ISO 639 code")
        user.default_language = code or None
    await session.flush()
