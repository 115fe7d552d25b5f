"""Passwords, credential checks, the login limiter and browser sessions."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from fediserver import accounts
from fediserver.logins import LoginLimiter, check_credentials
from fediserver.models import User, utcnow
from fediserver.passwords import hash_password, needs_rehash, verify_password
from fediserver.websessions import (
    SESSION_COOKIE,
    CookiePolicy,
    check_csrf,
    current_session,
    end_session,
    start_session,
)


@pytest.fixture
async def db_session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


def _old_scrypt(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return "$".join(["scrypt", "16384", "8", "1", base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def test_argon2id__verifies_and_a_changed_password_fails() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("$argon2id$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsf", encoded)
    assert not needs_rehash(encoded)


def test_old_scrypt_hash__still_verifies_and_asks_for_rehash() -> None:
    encoded = _old_scrypt("hunter22")
    assert verify_password("hunter22", encoded)
    assert not verify_password("hunter23", encoded)
    assert needs_rehash(encoded)
    assert not verify_password("x", "garbage")


async def test_check_credentials__upgrades_an_old_hash(db_session: AsyncSession) -> None:
    user = await accounts.create_user(db_session, "erin", "long enough password")
    user.password_hash = _old_scrypt("long enough password")
    await db_session.flush()
    assert await check_credentials(db_session, "erin", "wrong password!") is None
    assert await check_credentials(db_session, "nobody", "long enough password") is None
    found = await check_credentials(db_session, "erin", "long enough password")
    assert found is not None
    assert found.password_hash.startswith("$argon2id$")


async def test_check_credentials__hashes_off_the_event_loop_and_as_long_for_unknown_names(
    db_session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a user, and the real verify_password watched: on which thread it runs, and against which hash
    user = await accounts.create_user(db_session, "gail", "long enough password")
    checks: list[tuple[bool, str]] = []

    def watched(password: str, encoded: str) -> bool:
        checks.append((threading.current_thread() is threading.main_thread(), encoded))
        return verify_password(password, encoded)

    monkeypatch.setattr("fediserver.logins.verify_password", watched)
    # When a right password, a wrong one and an unknown username are checked
    assert await check_credentials(db_session, "gail", "long enough password") is not None
    assert await check_credentials(db_session, "gail", "long enough passwore") is None
    assert await check_credentials(db_session, "nobody", "long enough password") is None
    # Then every check hashed once, none on the event loop's thread (argon2id: 33 ms of CPU each), and the
    # unknown name was checked against a stand-in argon2id hash, so it takes as long as a known one
    assert [on_loop for on_loop, _ in checks] == [False, False, False]
    assert [encoded for _, encoded in checks[:2]] == [user.password_hash] * 2
    assert checks[2][1].startswith("$argon2id$")
    assert checks[2][1] != user.password_hash


def test_login_limiter__blocks_after_the_limit_and_forgets_on_success() -> None:
    limiter = LoginLimiter(attempts=3, window=60)
    for _ in range(3):
        assert limiter.retry_after("ip:1", "user:a") is None
        limiter.failed("ip:1", "user:a")
    wait = limiter.retry_after("ip:1", "user:b")
    assert wait is not None
    assert 0 < wait <= 60
    assert limiter.retry_after("ip:2", "user:b") is None
    limiter.succeeded("ip:1")
    assert limiter.retry_after("ip:1") is None


def _request(cookie: str | None) -> Request:
    headers = [(b"cookie", f"{SESSION_COOKIE}={cookie}".encode())] if cookie else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})


async def test_web_session__cookie_flags_lookup_expiry_and_logout(db_session: AsyncSession) -> None:
    user: User = await accounts.create_user(db_session, "fran", "long enough password")
    response = Response()
    row = await start_session(db_session, user, response, CookiePolicy(secure=True))
    cookie_header = response.headers["set-cookie"]
    assert "HttpOnly" in cookie_header
    assert "Secure" in cookie_header
    assert "SameSite=lax" in cookie_header
    token = cookie_header.split(";")[0].split("=", 1)[1]
    assert row.token_hash != token  # only the digest is stored
    found = await current_session(db_session, _request(token))
    assert found is not None
    assert found.user.id == user.id
    assert await current_session(db_session, _request(token[:-1] + ("A" if token[-1] != "A" else "B"))) is None
    assert await current_session(db_session, _request(token), now=utcnow() + timedelta(days=31)) is None
    out = Response()
    await end_session(db_session, _request(token), out, CookiePolicy(secure=False))
    assert await current_session(db_session, _request(token)) is None
    assert check_csrf(row.csrf_token, row.csrf_token)
    assert not check_csrf(row.csrf_token, row.csrf_token[:-1])
    assert not check_csrf(None, None)
