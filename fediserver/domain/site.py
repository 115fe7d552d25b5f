"""Instance settings an admin changes at runtime (``instance_settings`` rows), over the config file's.

Every reader (web pages, NodeInfo, the Mastodon instance API, sign-up, the generation and writing-help
daily limits) asks ``effective`` instead of reading ``settings.instance`` (or ``settings.assist.daily_limit``),
so a change shows at once without a restart.
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fediserver.config import InstanceSettings, RegistrationMode, Settings
from fediserver.errors import InvalidInput
from fediserver.models import InstanceSetting, utcnow

EDITABLE = ("name", "description", "rules", "registration", "generation_daily_limit", "assist_daily_limit")
# Stored under these keys, applied to ``settings.assist`` rather than ``settings.instance``.
ASSIST_KEYS = {"assist_daily_limit": "daily_limit"}
DAILY_LIMITS = {"generation_daily_limit": "generation daily limit", "assist_daily_limit": "writing help daily limit"}
MAX_NAME = 100
MAX_DESCRIPTION = 2000
MAX_RULES = 30
MAX_RULE = 500
MAX_DAILY = 100_000


async def effective(session: AsyncSession, settings: Settings) -> Settings:
    """``settings`` with the stored instance settings applied."""
    rows = await session.scalars(select(InstanceSetting).where(InstanceSetting.key.in_(EDITABLE)))
    stored: dict[str, Any] = {row.key: row.value for row in rows}
    if "rules" in stored:
        stored["rules"] = tuple(stored["rules"])
    if not stored:
        return settings
    assist = {field: stored.pop(key) for key, field in ASSIST_KEYS.items() if key in stored}
    return dataclasses.replace(
        settings,
        instance=dataclasses.replace(settings.instance, **stored),
        assist=dataclasses.replace(settings.assist, **assist),
    )


def _validated(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes, checked; 422 with the reason for the first bad one."""
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in EDITABLE:
            raise InvalidInput(f"{key}: not an instance setting")
        if key == "name":
            if not isinstance(value, str) or not 0 < len(value.strip()) <= MAX_NAME:
                raise InvalidInput(f"name: 1 to {MAX_NAME} characters")
            value = value.strip()
        elif key == "description":
            if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
                raise InvalidInput(f"description: at most {MAX_DESCRIPTION} characters")
            value = value.strip()
        elif key == "rules":
            if not isinstance(value, list | tuple) or not all(isinstance(r, str) for r in value):
                raise InvalidInput("rules: a list of texts")
            value = [r.strip() for r in value if r.strip()]
            if len(value) > MAX_RULES or any(len(r) > MAX_RULE for r in value):
                raise InvalidInput(f"rules: at most {MAX_RULES}, each at most {MAX_RULE} characters")
        elif key == "registration" and value not in get_args(RegistrationMode):
            raise InvalidInput(f"registration: one of {', '.join(get_args(RegistrationMode))}")
        elif key in DAILY_LIMITS and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAILY
        ):
            raise InvalidInput(f"{DAILY_LIMITS[key]}: a whole number from 0 (no limit) to {MAX_DAILY}")
        clean[key] = value
    return clean


async def update_instance(session: AsyncSession, settings: Settings, changes: dict[str, Any]) -> InstanceSettings:
    """Store ``changes`` (keys from ``EDITABLE``); returns the instance settings now in force. The caller commits."""
    for key, value in _validated(changes).items():
        row = await session.get(InstanceSetting, key)
        if row is None:
            session.add(InstanceSetting(key=key, value=value))
        else:
            row.value, row.updated_at = value, utcnow()
    await session.flush()
    return (await effective(session, settings)).instance
