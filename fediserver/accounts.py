"""Local users and the instance actor."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import activitypub as ap
from fediserver.errors import Conflict, InvalidInput, NotFound
from fediserver.models import LocalActor, User
from fediserver.passwords import hash_password

USERNAME_RE = re.compile(r"^[a-z0-9_]{1,30}$")
# The instance actor's username; also kept out of user sign-up so no one can impersonate the instance.
INSTANCE_ACTOR_USERNAME = "instance.actor"
RESERVED_USERNAMES = frozenset({"actor", "inbox", "root", "instance", "support", "api", "media"})


def _new_key_pair() -> tuple[str, str]:
    """RSA-2048 (Mastodon signs and expects rsa-sha256) as (private PEM, public PEM)."""
    key = ap.generate_rsa_key()
    return ap.private_key_pem(key), ap.public_key_pem(key)


def check_username(username: str) -> str:
    if not USERNAME_RE.fullmatch(username):
        raise InvalidInput(f"username {username!r}: use 1 to 30 lowercase letters, digits or underscores")
    if username in RESERVED_USERNAMES:
        raise InvalidInput(f"username {username!r} is reserved")
    return username


async def create_user(
    session: AsyncSession,
    username: str,
    password: str,
    *,
    display_name: str = "",
    is_admin: bool = False,
) -> User:
    """Create a user and its ``Person`` actor with a fresh RSA-2048 key pair; the caller commits."""
    check_username(username)
    if len(password) < 8:
        raise InvalidInput("password: must be at least 8 characters")
    existing = await session.scalar(select(func.count()).select_from(LocalActor).where(LocalActor.username == username))
    if existing:
        raise Conflict(f"user {username!r} already exists")
    # On threads: an RSA-2048 key takes 50 to 200 ms of CPU and an argon2id hash 33 ms, which on the event
    # loop held up every other request of the process (a sign-up through the web UI or the client API).
    private_pem, public_pem = await asyncio.to_thread(_new_key_pair)
    password_hash = await asyncio.to_thread(hash_password, password)
    actor = LocalActor(
        username=username,
        actor_type="Person",
        display_name=display_name or username,
        private_key_pem=private_pem,
        public_key_pem=public_pem,
    )
    user = User(actor=actor, password_hash=password_hash, is_admin=is_admin, role="admin" if is_admin else "user")
    session.add_all([actor, user])
    await session.flush()
    return user


async def list_users(session: AsyncSession) -> list[User]:
    result = await session.scalars(select(User).join(User.actor).order_by(LocalActor.username))
    return list(result)


async def get_user_actor(session: AsyncSession, username: str) -> LocalActor:
    """The user's actor; a deleted account is not found."""
    actor = await session.scalar(
        select(LocalActor).where(
            LocalActor.username == username, LocalActor.actor_type != "Application", LocalActor.deleted_at.is_(None)
        )
    )
    if actor is None:
        raise NotFound(f"no local user {username!r}")
    return actor


async def ensure_instance_actor(session: AsyncSession) -> LocalActor:
    """The ``Application`` actor that signs requests made for the instance itself; created once."""
    actor = await session.scalar(select(LocalActor).where(LocalActor.actor_type == "Application"))
    if actor is not None:
        return actor
    private_pem, public_pem = _new_key_pair()
    actor = LocalActor(
        username=INSTANCE_ACTOR_USERNAME,
        actor_type="Application",
        display_name="",
        manually_approves_followers=True,
        private_key_pem=private_pem,
        public_key_pem=public_pem,
    )
    session.add(actor)
    await session.flush()
    return actor
