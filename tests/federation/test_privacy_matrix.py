"""The privacy matrix (issue 8, point 6): every way this server exposes content, asked about a
followers-only and a direct post by an anonymous client, a non-follower, a follower and an addressee,
signed and unsigned; nothing leaks to whoever may not see the post.

To cover a new surface, append a ``Surface`` to ``SURFACES``: the URLs it serves (given the world and
the post), the ``Accept`` header to ask with, and whether a viewer who may see the post must find it
there. A response leaks when it carries the post's text, its generation prompt, its generation token, or
(where the URL asked for does not name it) its key.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import activitypub as ap
from fediserver import accounts
from fediserver.domain import sent
from fediserver.domain.posts import PostDraft, PostEdit, edit_post, publish_post
from fediserver.mastodon.ids import snowflake
from fediserver.models import Follow, GenerationJob, User, utcnow
from fediserver.oauth import grants
from fediserver.oauth.scopes import Scopes

Factory = Callable[..., Awaitable[Any]]
AS2 = "application/activity+json"
HTML = "text/html"


@dataclass(frozen=True)
class Viewer:
    name: str
    username: str | None  # a user on the remote instance who signs the request; None: unsigned
    role: str  # what the viewer is to the post's author: anonymous, non-follower, follower, addressee
    local: str | None = None  # a user on the author's instance whose OAuth token is sent (Mastodon API, C2S)

    @property
    def kind(self) -> str:
        return "local" if self.local else "remote"


VIEWERS = (
    Viewer("anonymous", None, "anonymous"),
    Viewer("non-follower", "stranger", "non-follower"),
    Viewer("follower", "fan", "follower"),
    Viewer("addressee", "friend", "addressee"),
    Viewer("local non-follower", None, "non-follower", local="lstranger"),
    Viewer("local follower", None, "follower", local="lfan"),
    Viewer("local addressee", None, "addressee", local="lfriend"),
)
LOCAL_USERS = [v.local for v in VIEWERS if v.local]


@dataclass
class Post:
    visibility: str
    key: str
    text: str
    prompt: str
    token: str
    job_id: int
    may_see: frozenset[str]  # roles
    status_id: str
    update_uri: str  # the id of the post's Update (``domain.sent``), which carries its text

    @property
    def marker(self) -> str:
        """The text's unique first word: the hashtag after it is rendered as a link, not as typed."""
        return self.text.split()[0]

    def secrets(self, asked: str) -> list[str]:
        found = [self.marker, self.prompt, self.token]
        return found if self.key in asked else [*found, self.key]


@dataclass
class World:
    a: Any
    b: Any
    http: httpx.AsyncClient
    keys: dict[str, ap.PrivateKey] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    posts: list[Post] = field(default_factory=list)
    parent_uri: str = ""
    parent_id: str = ""
    alice_id: str = ""


@dataclass(frozen=True)
class Surface:
    name: str
    urls: Callable[[World, Post], list[str]]
    accept: str = AS2
    shows_to_allowed: bool = False
    audience: str = "remote"  # which allowed viewers must find it (shows_to_allowed): remote or local


def _urls(world: World) -> Any:
    return world.a.fed.urls


def _api(world: World, path: str) -> str:
    return f"{_urls(world).base}{path}"


JSON = "application/json"


SURFACES: list[Surface] = [
    Surface("actor outbox", lambda w, p: [_urls(w).outbox("alice"), _urls(w).outbox("alice") + "?page=1"]),
    Surface("note (AS2)", lambda w, p: [_urls(w).note(p.key)], shows_to_allowed=True),
    Surface("note (HTML)", lambda w, p: [_urls(w).note(p.key)], accept=HTML, shows_to_allowed=True),
    Surface("note activity", lambda w, p: [_urls(w).note_activity(p.key)], shows_to_allowed=True),
    # The post's Update at its own id (C2S Location): its owner's token only, and no viewer is the owner.
    Surface("sent Update", lambda w, p: [p.update_uri, f"{p.update_uri}/undo"]),
    Surface("replies", lambda w, p: [_urls(w).note_replies(p.key), _urls(w).note_replies(p.key) + "?page=1"]),
    Surface("featured", lambda w, p: [_urls(w).featured("alice")]),
    Surface("tag page", lambda w, p: [_urls(w).tag("secrettag")]),
    Surface("tag page (HTML)", lambda w, p: [_urls(w).tag("secrettag")], accept=HTML),
    Surface("profile (AS2)", lambda w, p: [_urls(w).actor("alice")]),
    Surface("profile (HTML)", lambda w, p: [_urls(w).actor("alice"), _urls(w).profile("alice")], accept=HTML),
    Surface("instance actor", lambda w, p: [_urls(w).instance_actor()]),
    # Asked by guessable handles and by the real token: only the owner (a local login) may read a job.
    Surface(
        "generation status",
        lambda w, p: [
            f"{_urls(w).base}/api/v1/generations/{p.token}",
            f"{_urls(w).base}/api/v1/generations/{p.token}/events",
            f"{_urls(w).base}/api/v1/generations/{p.job_id}",
            f"{_urls(w).base}/api/v1/generations/{p.key}",
            f"{_urls(w).base}/api/v1/generations/{p.job_id}/events",
        ],
    ),
    # The Mastodon client API (issue 8 point 6, extended): asked with local users' tokens.
    Surface("API status", lambda w, p: [_api(w, f"/api/v1/statuses/{p.status_id}")], JSON, True, audience="local"),
    Surface(
        "API context of the public parent",
        lambda w, p: [_api(w, f"/api/v1/statuses/{w.parent_id}/context")],
        JSON,
        True,
        audience="local",
    ),
    Surface("API home timeline", lambda w, p: [_api(w, "/api/v1/timelines/home")], JSON),
    Surface(
        "API public timelines",
        lambda w, p: [
            _api(w, "/api/v1/timelines/public"),
            _api(w, "/api/v1/timelines/public?local=true"),
            _api(w, "/api/v1/timelines/public?remote=true"),
        ],
        JSON,
    ),
    Surface("API tag timeline", lambda w, p: [_api(w, "/api/v1/timelines/tag/secrettag")], JSON),
    Surface(
        "API account statuses",
        lambda w, p: [
            _api(w, f"/api/v1/accounts/{w.alice_id}/statuses"),
            _api(w, f"/api/v1/accounts/{w.alice_id}/statuses?exclude_replies=false&limit=40"),
        ],
        JSON,
    ),
    Surface(
        "API search",
        lambda w, p: [
            _api(w, f"/api/v2/search?q={p.marker}"),
            _api(w, f"/api/v2/search?q={p.marker}&type=statuses"),
            _api(w, "/api/v2/search?q=%23secrettag"),
            _api(w, f"/api/v2/search?q={_urls(w).note(p.key)}&resolve=true"),
        ],
        JSON,
    ),
    # ActivityPub C2S: the owner's inbox, read with another user's token (the outbox and the note URL
    # above are asked with every viewer's token too).
    Surface("C2S inbox", lambda w, p: [_urls(w).inbox("alice"), _urls(w).inbox("alice") + "?page=1"], AS2),
]


async def _get(world: World, viewer: Viewer, url: str, accept: str) -> httpx.Response:
    headers = {"accept": accept}
    if viewer.local is not None:
        headers["authorization"] = f"Bearer {world.tokens[viewer.local]}"
    if viewer.username is not None:
        headers = ap.sign_request(
            method="GET", url=url, headers=headers, body=None, key_id=world.b.fed.urls.actor_key(viewer.username),
            private_key=world.keys[viewer.username], now=datetime.now(UTC),
        )  # fmt: skip
    return await world.http.get(url, headers=headers)


async def _post(world: World, visibility: str, may_see: frozenset[str]) -> Post:
    a, b = world.a, world.b
    tag = secrets.token_hex(4)
    text = f"SECRET-{visibility}-{tag} #secrettag"
    prompt = f"SECRET-prompt-{visibility}-{tag}"
    async with a.sessions() as session:
        alice = await a.user(session, "alice")
        # Published followers-only, then narrowed to one remote addressee: no delivery reaches anyone, so
        # only what the surfaces below serve can leak it.
        # A reply to a public post: the parent's thread (context) is a surface too.
        draft = PostDraft(text=text, visibility="followers", in_reply_to=world.parent_uri)
        note = await publish_post(a.app.state.services, session, alice, draft)
        await edit_post(a.app.state.services, session, alice, note.uri, PostEdit(text=text))
        update_uri = await sent.latest(session, alice, note, "update")
        assert update_uri is not None
        if visibility == "direct":
            note.visibility, note.to, note.cc = "direct", [b.actor_url("friend"), a.actor_url("lfriend")], []
        now = utcnow()
        job = GenerationJob(
            token=secrets.token_hex(16), local_actor_id=alice.id, prompt=prompt, seed=1, model="tiny", steps=1,
            guidance=0.0, width=64, height=64, post_text=text, post_visibility=visibility, state="done",
            next_attempt_at=now, finished_at=now,
        )  # fmt: skip
        session.add(job)
        await session.flush()
        note.generation_job_id = job.id
        await session.commit()
        key = note.uri.rsplit("/", 1)[1]
        status_id = snowflake(note.published_at, note.id)
        return Post(visibility, key, text, prompt, job.token, job.id, may_see, status_id, update_uri)


@pytest.fixture
async def world(instances: Factory) -> AsyncIterator[World]:
    a = await instances("a", ["alice"])
    b = await instances("b", ["stranger", "fan", "friend"])
    for username in LOCAL_USERS:
        async with a.sessions() as session:
            await accounts.create_user(session, username, "password-" + username)
            await session.commit()
    async with a.sessions() as session:
        for n, fan in enumerate([b.actor_url("fan"), a.actor_url("lfan")]):
            session.add(
                Follow(
                    follower_uri=fan,
                    followed_uri=a.actor_url("alice"),
                    activity_uri=f"{b.base}/follows/{n}",
                    state="accepted",
                )
            )
        await session.commit()
    async with httpx.AsyncClient(timeout=10) as http:
        w = World(a, b, http)
        async with a.sessions() as session:
            alice = await a.user(session, "alice")
            w.alice_id = str(alice.id)
            parent = await publish_post(a.app.state.services, session, alice, PostDraft(text="a public parent"))
            w.parent_uri, w.parent_id = parent.uri, snowflake(parent.published_at, parent.id)
            await session.commit()
            for username in LOCAL_USERS:
                actor = await a.user(session, username)
                user = await session.scalar(select(User).where(User.actor_id == actor.id))
                scopes = Scopes.parse("read")
                app, _ = await grants.register_app(session, "matrix", [grants.OOB], scopes, None)
                w.tokens[username] = (await grants.issue_token(session, app, user, scopes)).access_token
            await session.commit()
        async with b.sessions() as session:
            for viewer in VIEWERS:
                if viewer.username is not None:
                    user = await b.user(session, viewer.username)
                    w.keys[viewer.username] = ap.load_private_key(user.private_key_pem)
        w.posts = [
            await _post(w, "followers", frozenset({"follower"})),
            await _post(w, "direct", frozenset({"addressee"})),
        ]
        yield w


async def test_privacy_matrix__nothing_leaks(world: World) -> None:
    leaks: list[str] = []
    missing: list[str] = []
    asked = 0
    for post in world.posts:
        for surface in SURFACES:
            for url in surface.urls(world, post):
                for viewer in VIEWERS:
                    response = await _get(world, viewer, url, surface.accept)
                    asked += 1
                    where = f"{post.visibility} post, {surface.name}, {url} as {viewer.name}"
                    assert response.status_code < 500, f"{where}: {response.status_code}"
                    allowed = viewer.role in post.may_see
                    if not allowed:
                        shown = [s for s in post.secrets(url) if s in response.text]
                        if shown:
                            leaks.append(f"{where}: {response.status_code} shows {shown}")
                    elif (
                        surface.shows_to_allowed
                        and viewer.kind == surface.audience
                        and (response.status_code != 200 or post.marker not in response.text)
                    ):
                        missing.append(f"{where}: {response.status_code}")
    assert leaks == [], "\n".join(leaks)
    assert missing == [], "the matrix must see what it guards, or it proves nothing: " + "\n".join(missing)
    assert asked == sum(len(s.urls(world, p)) for p in world.posts for s in SURFACES) * len(VIEWERS)


async def test_privacy_matrix__only_the_owner_reads_a_generation(world: World) -> None:
    # The token alone is not enough: the job's prompt and post may be followers-only or direct.
    post = world.posts[0]
    url = world.a.fed.urls.generation(post.token)
    assert (await _get(world, VIEWERS[0], url, "application/json")).status_code == 401
    async with world.a.sessions() as session:
        actor = await world.a.user(session, "alice")
        user = await session.scalar(select(User).where(User.actor_id == actor.id))
        scopes = Scopes.parse("generate")
        app, _ = await grants.register_app(session, "matrix", [grants.OOB], scopes, None)
        issued = await grants.issue_token(session, app, user, scopes)
        await session.commit()
    response = await world.http.get(url, headers={"authorization": f"Bearer {issued.access_token}"})
    assert response.status_code == 200
    assert response.json()["parameters"]["prompt"] == post.prompt


STREAMS = ["public", "public/local", "user", "hashtag?tag=secrettag", "hashtag/local?tag=secrettag"]


async def test_privacy_matrix__streaming(world: World) -> None:
    """SSE streams opened by local users before alice posts: a private post reaches none who may not see
    it; a public control post, sent last, reaches every public stream (or the streams proved nothing)."""
    received: dict[tuple[str, str], list[str]] = {}
    opened = asyncio.Event()
    viewers = [v for v in VIEWERS if v.local]

    async def listen(viewer: Viewer, stream: str) -> None:
        lines = received.setdefault((viewer.name, stream), [])
        url = _api(world, f"/api/v1/streaming/{stream}")
        headers = {"authorization": f"Bearer {world.tokens[viewer.local or '']}"}
        async with world.http.stream("GET", url, headers=headers, timeout=None) as response:
            assert response.status_code == 200, f"{url} as {viewer.name}: {response.status_code}"
            async for line in response.aiter_lines():
                lines.append(line)
                if len(received) == len(viewers) * len(STREAMS) and all(received.values()):
                    opened.set()

    tasks = [asyncio.create_task(listen(v, s)) for v in viewers for s in STREAMS]
    # Streams are fed where the Mastodon API publishes a status: alice posts through it.
    async with world.a.sessions() as session:
        actor = await world.a.user(session, "alice")
        user = await session.scalar(select(User).where(User.actor_id == actor.id))
        scopes = Scopes.parse("read write")
        app, _ = await grants.register_app(session, "matrix-stream", [grants.OOB], scopes, None)
        alice_token = (await grants.issue_token(session, app, user, scopes)).access_token
        await session.commit()
    tag = secrets.token_hex(4)
    private = {"private": f"SECRET-followers-{tag}", "direct": f"SECRET-direct-{tag}"}
    may_see = {"private": {"follower"}, "direct": {"addressee"}}
    control = f"CONTROL-{tag}"
    try:
        await asyncio.wait_for(opened.wait(), 30)
        for visibility, text in [*private.items(), ("public", control)]:
            mention = " @lfriend" if visibility == "direct" else ""
            response = await world.http.post(
                _api(world, "/api/v1/statuses"),
                json={
                    "status": f"{text}{mention} #secrettag",
                    "visibility": visibility,
                    "in_reply_to_id": world.parent_id,
                },
                headers={"authorization": f"Bearer {alice_token}"},
            )
            assert response.status_code == 200, response.text

        def seen(viewer: Viewer, stream: str, text: str) -> bool:
            return text in "\n".join(received[(viewer.name, stream)])

        def arrived() -> list[str]:
            follower = next(v for v in viewers if v.role == "follower")
            wanted = [(v, s, control) for v in viewers for s in STREAMS if s != "user"]
            wanted.append((follower, "user", private["private"]))
            return [f"{text} on {s} as {v.name}" for v, s, text in wanted if not seen(v, s, text)]

        for _ in range(300):
            if not arrived():
                break
            await asyncio.sleep(0.05)
        assert arrived() == [], "the streams must carry what they may, or they prove nothing"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    leaks = [
        f"{visibility} post on {stream} as {viewer.name}"
        for visibility, text in private.items()
        for viewer in viewers
        for stream in STREAMS
        if viewer.role not in may_see[visibility] and seen(viewer, stream, text)
    ]
    assert leaks == [], "\n".join(leaks)


async def test_privacy_matrix__c2s_proxy(world: World) -> None:
    """``proxyUrl`` fetches as the token's user, signed with that user's key: a private local note comes
    back only to who may see it (the note URL itself decides, asked with the user's signature)."""
    outcomes: dict[str, tuple[int, bool]] = {}
    for post in world.posts:
        for viewer in (v for v in VIEWERS if v.local):
            username = viewer.local or ""
            response = await world.http.post(
                world.a.fed.urls.base + f"/users/{username}/proxy",
                data={"id": world.a.fed.urls.note(post.key)},
                headers={"authorization": f"Bearer {world.tokens[username]}", "accept": AS2},
            )
            assert response.status_code < 500 or response.status_code == 502, response.text
            shown = post.marker in response.text
            outcomes[f"{post.visibility} as {viewer.name}"] = (response.status_code, shown)
            if viewer.role not in post.may_see:
                assert not shown, f"{post.visibility} post through proxyUrl as {viewer.name}"
    # The allowed viewers get it (the proxy works, so the refusals above are the note's rules).
    assert outcomes["followers as local follower"] == (200, True), outcomes
    assert outcomes["direct as local addressee"] == (200, True), outcomes
