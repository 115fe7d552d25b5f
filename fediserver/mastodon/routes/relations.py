"""An account's followers and following, and the caller's blocks and mutes
(docs.joinmastodon.org/methods/accounts/, /methods/blocks/, /methods/mutes/).

Writes go through ``domain.relations`` (block: follows end both ways, a remote account gets ``Block``)
and ``domain.mutes`` (private, never federated). Block, unblock, mute and unmute are idempotent and
answer the Relationship, as Mastodon's do. Lists are paged by the relation's row id.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import mutes, relations, relationships
from fediserver.errors import InvalidInput
from fediserver.mastodon import lookup, rows
from fediserver.mastodon.auth import caller, optional_caller
from fediserver.mastodon.http import ok, services, urls
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import Presenter
from fediserver.mastodon.routes.accounts import actor_uri, relationship
from fediserver.models import Follow


def _network(followers: bool) -> Route:
    async def handler(request: Request) -> Response:
        params = await read_params(request)
        async with request.app.state.sessions() as session:
            found = await optional_caller(request, session, "read:accounts")
            viewer = urls(request).actor(found.actor.username) if found is not None and found.user else None
            target = await lookup.account(session, request.path_params["id"])
            owner = actor_uri(request, target)
            if await relationships.hides_network(session, owner, viewer):
                return rows.paged_rows(request, [], [])
            window = rows.window(params)
            if followers:
                page: list[Follow] = await relationships.followers(session, owner, window)
            else:
                page = await relationships.following(session, owner, window)
            other = [r.follower_uri if followers else r.followed_uri for r in page]
            accounts = await Presenter(session, urls(request), viewer).accounts(other)
        items = [accounts[u] for u in other if u in accounts]
        return rows.paged_rows(request, items, [r.id for r in page] if items else [])

    name = "followers" if followers else "following"
    return Route(f"/api/v1/accounts/{{id}}/{name}", handler)


def _write(action: str) -> Route:
    scope = "write:blocks" if action.endswith("block") else "write:mutes"

    async def handler(request: Request) -> Response:
        params = await read_params(request)
        async with request.app.state.sessions() as session:
            found = await caller(request, session, scope)
            svc = services(request)
            target = await lookup.account(session, request.path_params["id"])
            uri = actor_uri(request, target)
            facts = await relationships.relationship(svc, session, found.actor, uri)
            if action == "block":
                await relations.block_actor(svc, session, found.actor, uri)
            elif action == "unblock" and facts.blocking:
                await relations.unblock_actor(svc, session, found.actor, uri)
            elif action == "mute":
                duration = params.integer("duration") or 0
                if duration < 0:
                    raise InvalidInput("Validation failed: duration must be 0 (indefinite) or a number of seconds")
                notify = params.flag("notifications", default=True)
                await mutes.mute(svc, session, found.actor, uri, notifications=notify, duration_s=duration)
            elif action == "unmute":
                await mutes.unmute(session, found.actor, uri)
            await session.commit()
            return ok(await relationship(request, session, found.actor, target, request.path_params["id"]))

    return Route(f"/api/v1/accounts/{{id}}/{action}", handler, methods=["POST"])


async def blocks(request: Request) -> Response:
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:blocks")
        page = await relationships.blocks(services(request), session, found.actor, rows.window(params))
        accounts = await Presenter(session, urls(request), None).accounts(r.target_uri for r in page)
    items = [accounts[r.target_uri] for r in page if r.target_uri in accounts]
    return rows.paged_rows(request, items, [r.id for r in page] if items else [])


async def muted(request: Request) -> Response:
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:mutes")
        page = await relationships.mutes_in_force(session, found.actor, rows.window(params))
        accounts = await Presenter(session, urls(request), None).accounts(r.target_uri for r in page)
    items = [accounts[r.target_uri] for r in page if r.target_uri in accounts]
    return rows.paged_rows(request, items, [r.id for r in page] if items else [])


routes = [
    _network(followers=True),
    _network(followers=False),
    *(_write(a) for a in ("block", "unblock", "mute", "unmute")),
    Route("/api/v1/blocks", blocks),
    Route("/api/v1/mutes", muted),
]
