"""Following an account of the same instance, and moving between two local accounts, from the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fediserver.cli import main
from fediserver.config import load_config
from fediserver.db import make_engine, session_factory
from fediserver.models import DeliveryJob, Follow, Notification

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def instance(instance: Path) -> Path:
    for name in ("alice", "bob", "carol"):
        assert main(["user", "create", name]) == 0
    return instance


def _rows(config: Path, model: Any) -> list[Any]:
    async def query() -> list[Any]:
        engine = make_engine(load_config(config, environ={}).database_url)
        try:
            async with session_factory(engine)() as session:
                return list(await session.scalars(select(model).order_by(model.id)))
        finally:
            await engine.dispose()

    return asyncio.run(query())


def _follows(config: Path) -> set[tuple[str, str, str]]:
    return {
        (f.follower_uri.rsplit("/", 1)[1], f.followed_uri.rsplit("/", 1)[1], f.state) for f in _rows(config, Follow)
    }


def test_follow__a_local_account_is_followed_at_once_and_told(
    instance: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["follow", "alice", "@bob"]) == 0
    assert f"alice follows {BASE}/users/bob" in capsys.readouterr().out
    assert _follows(instance) == {("alice", "bob", "accepted")}
    [note] = _rows(instance, Notification)
    assert (note.type, note.from_actor_uri) == ("follow", f"{BASE}/users/alice")
    assert _rows(instance, DeliveryJob) == []
    assert main(["unfollow", "alice", f"{BASE}/users/bob"]) == 0
    assert _follows(instance) == set()
    assert _rows(instance, Notification) == []


def test_follow__a_locked_local_account_gets_a_request_to_accept(instance: Path) -> None:
    assert main(["profile", "bob", "--locked"]) == 0
    assert main(["follow", "alice", "@bob@127.0.0.1:8000"]) == 0
    assert _follows(instance) == {("alice", "bob", "pending")}
    assert [n.type for n in _rows(instance, Notification)] == ["follow_request"]
    assert main(["follow-requests", "bob", "--accept", "@alice"]) == 0
    assert _follows(instance) == {("alice", "bob", "accepted")}
    assert _rows(instance, DeliveryJob) == []


def test_follow__oneself_and_unknown_local_names_are_refused(instance: Path) -> None:
    assert main(["follow", "alice", "@alice"]) != 0
    assert main(["follow", "alice", "@nobody"]) != 0
    assert _follows(instance) == set()


def test_move__between_local_accounts_moves_local_followers(instance: Path) -> None:
    assert main(["follow", "carol", "@alice"]) == 0
    assert main(["profile", "bob", "--also-known-as", f"{BASE}/users/alice"]) == 0
    assert main(["move", "alice", "--to", "@bob"]) == 0
    assert _follows(instance) == {("carol", "bob", "accepted")}
