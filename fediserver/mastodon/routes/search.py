"""Search v2 (docs.joinmastodon.org/methods/search/): accounts and statuses; ``resolve=true`` looks up
``user@host`` over WebFinger and fetches a post by its URL. Pages with ``offset`` (Tusky: clients.md row 22).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import directory
from fediserver.errors import AppError
from fediserver.mastodon import actions
from fediserver.mastodon.auth import caller
from fediserver.mastodon.http import ok, services, urls
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import Presenter
from fediserver.models import Note

MAX_RESULTS = 40


async def search(request: Request) -> Response:
    params = await read_params(request)
    q = (params.text("q") or "").strip()
    kind = params.text("type")
    limit = max(1, min(params.integer("limit") or 20, MAX_RESULTS))
    offset = max(0, params.integer("offset") or 0)
    resolve = params.flag("resolve")
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:search")
        me = urls(request).actor(found.actor.username)
        presenter = Presenter(session, urls(request), me)
        account_uris: list[str] = []
        notes: list[Note] = []
        is_url = q.startswith(("https://", "http://"))
        handle = q.lstrip("@")
        if kind in (None, "accounts") and q:
            if (
                resolve
                and offset == 0
                and ("@" in handle or is_url)
                and not handle.endswith("@" + urls(request).domain)
            ):
                try:
                    remote = await actions.resolve_account(services(request), session, handle if not is_url else q)
                    account_uris.append(remote.uri)
                except AppError:
                    pass
            if not is_url:
                # The same lookup as /api/v1/accounts/search (domain.directory): local accounts first.
                account_uris += await directory.search_accounts(
                    services(request), session, handle, limit=limit, offset=offset
                )
        if kind in (None, "statuses") and is_url and resolve and offset == 0:
            note = await actions.fetch_note(services(request), session, q, me)
            if note is not None:
                notes.append(note)
        await session.commit()
        ordered = list(dict.fromkeys(account_uris))[:limit]
        accounts = await presenter.accounts(ordered)
        return ok(
            {
                "accounts": [accounts[u] for u in ordered if u in accounts],
                "statuses": await presenter.statuses(notes),
                "hashtags": [],
            }
        )


routes = [Route("/api/v2/search", search)]
