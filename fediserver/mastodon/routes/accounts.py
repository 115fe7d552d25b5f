"""Accounts (docs.joinmastodon.org/methods/accounts/): credentials, by id, lookup, statuses, relationships, follow."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fediserver.domain import profiles, timelines
from fediserver.domain import relationships as relationship_facts
from fediserver.errors import NotFound
from fediserver.mastodon import actions, lookup
from fediserver.mastodon.auth import caller, optional_caller
from fediserver.mastodon.entities.account import credential_account
from fediserver.mastodon.entities.relationship import from_facts
from fediserver.mastodon.http import ok, paged, services, urls
from fediserver.mastodon.pagination import Page
from fediserver.mastodon.params import read_params
from fediserver.mastodon.present import Presenter
from fediserver.models import Follow, LocalActor, RemoteActor, User
from fediserver.notes import may_see


def actor_uri(request: Request, actor: LocalActor | RemoteActor) -> str:
    return urls(request).actor(actor.username) if isinstance(actor, LocalActor) else actor.uri


async def credentials_of(request: Request, session: AsyncSession, actor: LocalActor) -> dict[str, object]:
    """The CredentialAccount of the caller's own actor."""
    uri = urls(request).actor(actor.username)
    stats = await Presenter(session, urls(request), None)._stats([uri])
    requests = await session.scalar(
        select(Follow.id).where(Follow.followed_uri == uri, Follow.state == "pending").limit(1)
    )
    user = await session.scalar(select(User).where(User.actor_id == actor.id))
    return credential_account(actor, urls(request), stats[uri], 1 if requests else 0, user)


async def verify_credentials(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        found = await caller(request, session)
        if not (found.scopes.allows("read:accounts") or found.scopes.allows("profile")):
            return ok({"error": "This action is outside the authorized scopes"}, 403)
        return ok(await credentials_of(request, session, found.actor))


async def show(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        await optional_caller(request, session, "read:accounts")
        target = await lookup.account(session, request.path_params["id"])
        body = await Presenter(session, urls(request), None).account(actor_uri(request, target))
    if body is None:
        raise NotFound("Record not found")
    return ok(body)


async def lookup_acct(request: Request) -> Response:
    """``acct`` is ``user`` or ``user@our-domain`` locally, ``user@host`` for a cached remote account."""
    acct = (request.query_params.get("acct") or "").lstrip("@")
    username, _, host = acct.partition("@")
    async with request.app.state.sessions() as session:
        await optional_caller(request, session, "read:accounts")
        uri: str | None = None
        if not host or host == urls(request).domain:
            uri = urls(request).actor(username)
        else:
            remote = await session.scalar(
                select(RemoteActor).where(RemoteActor.preferred_username == username, RemoteActor.domain == host)
            )
            uri = remote.uri if remote is not None else None
        body = await Presenter(session, urls(request), None).account(uri) if uri else None
    if body is None:
        raise NotFound("Record not found")
    return ok(body)


async def statuses(request: Request) -> Response:
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await optional_caller(request, session, "read:statuses")
        viewer = urls(request).actor(found.actor.username) if found and found.user else None
        target = await lookup.account(session, request.path_params["id"])
        if params.flag("pinned"):
            # Pins of local accounts (the domain's); a remote account's featured collection is not fetched.
            pins = await profiles.pinned_notes(session, target) if isinstance(target, LocalActor) else []
            pins = [n for n in pins if await may_see(session, n, viewer)]
            return ok(await Presenter(session, urls(request), viewer).statuses(pins))
        reader = timelines.Reader.of(urls(request), found.actor if found and found.user else None)
        notes = await timelines.account(
            session,
            reader,
            actor_uri(request, target),
            Page.from_params(params),
            only_media=params.flag("only_media"),
            exclude_replies=params.flag("exclude_replies"),
        )
        presenter = Presenter(session, urls(request), viewer, reader.actor if reader else None)
        return paged(request, await presenter.statuses(notes))


async def relationship(
    request: Request, session: AsyncSession, me: LocalActor, target: LocalActor | RemoteActor, account_id: str
) -> dict[str, object]:
    """Relationship from ``me`` through the domain, blocks and mutes included."""
    facts = await relationship_facts.relationship(services(request), session, me, actor_uri(request, target))
    return from_facts(account_id, facts)


async def relationships(request: Request) -> Response:
    params = await read_params(request)
    async with request.app.state.sessions() as session:
        found = await caller(request, session, "read:follows")
        out = []
        for account_id in params.many("id"):
            try:
                target = await lookup.account(session, account_id)
            except NotFound:
                continue
            out.append(await relationship(request, session, found.actor, target, account_id))
    return ok(out)


def _follow_route(action: str) -> Route:
    async def handler(request: Request) -> Response:
        async with request.app.state.sessions() as session:
            found = await caller(request, session, "write:follows")
            target = await lookup.account(session, request.path_params["id"])
            me = urls(request).actor(found.actor.username)
            target_uri = actor_uri(request, target)
            if action == "follow":
                await actions.follow(services(request), session, found.actor, target_uri)
            else:
                is_following = await session.scalar(
                    select(Follow.id).where(Follow.follower_uri == me, Follow.followed_uri == target_uri)
                )
                if is_following is not None:
                    await actions.unfollow(services(request), session, found.actor, target_uri)
            await session.commit()
            return ok(await relationship(request, session, found.actor, target, request.path_params["id"]))

    return Route(f"/api/v1/accounts/{{id}}/{action}", handler, methods=["POST"])


routes = [
    Route("/api/v1/accounts/verify_credentials", verify_credentials),
    Route("/api/v1/accounts/lookup", lookup_acct),
    Route("/api/v1/accounts/relationships", relationships),
    Route("/api/v1/accounts/{id}", show),
    Route("/api/v1/accounts/{id}/statuses", statuses),
    _follow_route("follow"),
    _follow_route("unfollow"),
]
