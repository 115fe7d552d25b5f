"""Request parameters as Mastodon reads them: query string, form, multipart and JSON bodies merged.

Ice Cubes sends OAuth parameters in the query with an empty body, masto.js sends JSON, Mastodon.py sends
forms (clients.md §1.1, row 9); arrays come as ``name[]`` in forms and as ``name`` lists in JSON (row 24).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

import activitypub as ap
from fediserver.errors import InvalidInput

JSON_LIMITS = ap.JsonLimits()
_TRUE = frozenset({"true", "1", "on", "yes", "t"})
_FALSE = frozenset({"false", "0", "off", "no", "f", "", "none", "null"})


@dataclass
class Params:
    values: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, value: Any) -> None:
        key = name[:-2] if name.endswith("[]") else name
        if isinstance(value, list):
            self.values.setdefault(key, []).extend(value)
        else:
            self.values.setdefault(key, []).append(value)

    def raw(self, name: str) -> Any:
        found = self.values.get(name)
        return found[-1] if found else None

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None or isinstance(value, UploadFile):
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict) else str(value)

    def many(self, name: str) -> list[str]:
        return [str(v) for v in self.values.get(name, []) if v is not None and not isinstance(v, UploadFile)]

    def flag(self, name: str, default: bool = False) -> bool:
        """Booleans case-insensitively; Mastodon.py sends Python's ``False`` literally (clients.md row 31)."""
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise InvalidInput(f"{name}: expected a boolean, got {value!r}")

    def integer(self, name: str) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{name}: expected an integer, got {value!r}") from None

    async def close(self) -> None:
        """Close uploaded files (spooled to disk by starlette)."""
        for values in self.values.values():
            for value in values:
                if isinstance(value, UploadFile):
                    await value.close()

    def file(self, name: str) -> UploadFile | None:
        value = self.raw(name)
        return value if isinstance(value, UploadFile) else None


async def read_params(request: Request, *, max_bytes: int | None = None) -> Params:
    """Query parameters first, then the body's (which win on a clash)."""
    params = Params()
    for key, value in request.query_params.multi_items():
        params.add(key, value)
    if request.method in ("GET", "HEAD", "DELETE") and not request.headers.get("content-length"):
        return params
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        body = await request.body()
        if body.strip():
            try:
                # Bounded like the inbox: a body nested thousands deep was a RecursionError and a 500 (issue 8).
                data = ap.loads_bounded(body, JSON_LIMITS)
            except ap.MalformedDocument as exc:
                raise InvalidInput(str(exc)) from None
            if not isinstance(data, dict):
                raise InvalidInput("body must be a JSON object")
            for key, value in data.items():
                params.add(key, value)
    elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        kwargs: dict[str, Any] = {"max_part_size": max_bytes} if max_bytes else {}
        form = await request.form(**kwargs)
        for key, item in form.multi_items():
            params.add(key, item)
    return params
