"""The caller's own account: ``PATCH /api/v1/accounts/update_credentials``, and account search
(docs.joinmastodon.org/methods/accounts/#update_credentials, #search).

Profile changes go through ``domain.profiles.update_profile`` (followers get ``Update(Person)``); avatar
and header are multipart uploads stored like every upload (``media.ingest_upload``). ``source[privacy]``,
``source[sensitive]`` and ``source[language]`` are the user's posting defaults (``domain.preferences``),
reported back in ``source`` and ``/api/v1/preferences``.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import directory, preferences, profiles
from fediserver.errors import AppError, InvalidInput
from fediserver.mastodon import actions
from fediserver.mastodon.auth import caller
from fediserver.mastodon.entities.status import VISIBILITY_IN
from fediserver.mastodon.http import ok, services, urls
from fediserver.mastodon.params import Params, read_params
from fediserver.mastodon.present import Presenter
from fediserver.mastodon.routes.accounts import credentials_of

# Mastodon.py and HTML forms: ``fields_attributes[0][name]``; JSON clients: a list or an index-keyed object.
_FIELD_KEY = re.compile(r"^fields_attributes\[(\d+)\]\[(name|value)\]$")
MAX_SEARCH = 80


def _fields(params: Params) -> list[tuple[str, str]] | None:
    found: dict[int, dict[str, str]] = {}
    for key in params.values:
        match = _FIELD_KEY.match(key)
        if match:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = params.text(key) or ""
    raw = params.raw("fields_attributes")
    if isinstance(raw, dict):
        raw = [raw[k] for k in sorted(raw, key=lambda k: int(k) if str(k).isdigit() else 0)]
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise InvalidInput("Validation failed: fields_attributes must hold objects with name and value")
            found[index] = {"name": str(item.get("name") or ""), "value": str(item.get("value") or "")}
    if not found and raw is None:
        return None
    # Mastodon drops a field left with neither name nor value (how apps remove one).
    pairs = [(f.get("name", ""), f.get("value", "")) for _, f in sorted(found.items())]
    return [(n, v) for n, v in pairs if n.strip() or v.strip()]


async def _image(params: Params, name: str) -> bytes | None:
    upload = params.file(name)
    if upload is None:
        return None
    data = await upload.read()
    if not data:
        raise InvalidInput(f"Validation failed: {name} is empty")
    return data


def _source(params: Params) -> dict[str, Any]:
    """``source[privacy]`` (form) or ``{"source": {"privacy": ...}}`` (JSON), mapped to the domain's names."""
    nested = params.raw("source")
    source = Params()
    if isinstance(nested, dict):
        for key, value in nested.items():
            source.add(str(key), value)
    for key in ("privacy", "sensitive", "language"):
        if (value := params.raw(f"source[{key}]")) is not None:
            source.add(key, value)
    out: dict[str, Any] = {}
    if (privacy := source.text("privacy")) is not None:
        if privacy not in VISIBILITY_IN or privacy == "direct":
            raise InvalidInput("Validation failed: source[privacy] must be public, unlisted or private")
        out["visibility"] = VISIBILITY_IN[privacy]
    if source.raw("sensitive") is not None:
        out["sensitive"] = source.flag("sensitive")
    if (language := source.text("language")) is not None:
        out["language"] = language
    return out


def _flag(params: Params, name: str) -> bool | None:
    return params.flag(name) if params.raw(name) is not None else None


async def update_credentials(request: Request) -> Response:
    limit = request.app.state.settings.media.max_upload_bytes
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "write:accounts")
        params = await read_params(request, max_bytes=limit + 1)
        try:
            change = profiles.ProfileChange(
                display_name=params.text("display_name"),
                bio=params.text("note"),
                avatar=await _image(params, "avatar"),
                header=await _image(params, "header"),
                fields=_fields(params),
                locked=_flag(params, "locked"),
                bot=_flag(params, "bot"),
                discoverable=_flag(params, "discoverable"),
                indexable=_flag(params, "indexable"),
            )
        finally:
            await params.close()
        actor = found.actor
        user = found.user
        assert user is not None  # caller() requires a user token
        try:
            await profiles.update_profile(services(request), session, actor, change)
            await preferences.set_posting_defaults(session, user, **_source(params))
        except InvalidInput as exc:
            raise InvalidInput(f"Validation failed: {exc.message}") from None
        await session.commit()
        return ok(await credentials_of(request, session, actor))


async def search(request: Request) -> Response:
    params = await read_params(request)
    q = (params.text("q") or "").strip()
    limit = max(1, min(params.integer("limit") or 40, MAX_SEARCH))
    offset = max(0, params.integer("offset") or 0)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:accounts")
        me = urls(request).actor(found.actor.username)
        handle = q.lstrip("@")
        uris: list[str] = []
        remote_handle = "@" in handle and handle.rsplit("@", 1)[1].lower() != urls(request).domain
        if params.flag("resolve") and offset == 0 and (remote_handle or q.startswith(("https://", "http://"))):
            # WebFinger, as search v2 with resolve=true does; an unknown handle simply finds nothing.
            with contextlib.suppress(AppError):
                uris.append((await actions.resolve_account(services(request), session, handle)).uri)
        uris += await directory.search_accounts(
            services(request),
            session,
            q,
            limit=limit,
            offset=offset,
            followed_by=me if params.flag("following") else None,
        )
        await session.commit()
        ordered = list(dict.fromkeys(uris))[:limit]
        accounts = await Presenter(session, urls(request), me).accounts(ordered)
    return ok([accounts[u] for u in ordered if u in accounts])


routes = [
    Route("/api/v1/accounts/update_credentials", update_credentials, methods=["PATCH"]),
    Route("/api/v1/accounts/search", search),
]
