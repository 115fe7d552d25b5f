"""``profile``, ``follow-requests``, ``user delete`` and ``move``, run in-process as typed."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from fediserver.cli import main
from fediserver.config import load_config
from fediserver.db import make_engine, session_factory
from fediserver.models import DeliveryJob, GenerationJob, LocalActor, User

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def instance(instance: Path) -> Path:
    for name in ("alice", "bob"):
        assert main(["user", "create", name]) == 0
    return instance


def _actor(config: Path, username: str) -> tuple[LocalActor, bool]:
    async def query() -> tuple[LocalActor, bool]:
        engine = make_engine(load_config(config, environ={}).database_url)
        try:
            async with session_factory(engine)() as session:
                actor = await session.scalar(select(LocalActor).where(LocalActor.username == username))
                assert actor is not None
                user = await session.scalar(select(User.id).where(User.actor_id == actor.id))
                return actor, user is not None
        finally:
            await engine.dispose()

    return asyncio.run(query())


def _rows(config: Path, model: type[DeliveryJob] | type[GenerationJob]) -> list[DeliveryJob | GenerationJob]:
    async def query() -> list[DeliveryJob | GenerationJob]:
        engine = make_engine(load_config(config, environ={}).database_url)
        try:
            async with session_factory(engine)() as session:
                return list(await session.scalars(select(model)))
        finally:
            await engine.dispose()

    return asyncio.run(query())


def test_help__lists_the_account_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("profile", "follow-requests", "move"):
        assert re.search(rf"^\s+{command}\s", out, re.M), command


def test_profile__changes_and_shows_the_profile(
    instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    avatar = tmp_path / "a.png"
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (9, 9, 9)).save(buf, "PNG")
    avatar.write_bytes(buf.getvalue())
    code = main(
        [
            "profile", "alice", "--display-name", "Alice", "--bio", "Hello", "--avatar", str(avatar),
            "--field", "Pronouns=she/her", "--field", "Site=https://example.invalid/",
            "--locked", "--bot", "--no-indexable",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "display name: Alice" in out
    assert "field: Pronouns = she/her" in out
    assert "(verified)" not in out
    actor, _ = _actor(instance, "alice")
    assert actor.display_name == "Alice"
    assert actor.summary == "<p>Hello</p>"
    assert actor.actor_type == "Service"
    assert actor.manually_approves_followers is True
    assert (actor.discoverable, actor.indexable) == (True, False)
    assert actor.avatar_media_type == "image/png"
    assert [f["name"] for f in actor.fields] == ["Pronouns", "Site"]
    assert main(["profile", "alice", "--unlocked", "--no-bot", "--no-fields"]) == 0
    actor, _ = _actor(instance, "alice")
    assert (actor.actor_type, actor.manually_approves_followers, actor.fields) == ("Person", False, [])


def test_profile__bad_input_is_refused(instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "alice", "--field", "no-equals-sign"]) == 1
    assert "NAME=VALUE" in capsys.readouterr().err
    bogus = tmp_path / "x.png"
    bogus.write_bytes(b"not an image")
    assert main(["profile", "alice", "--header", str(bogus)]) == 1
    assert "header: image" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["profile", "alice", "--avatar", str(bogus), "--avatar-prompt", "a fox"])


def test_profile__avatar_prompt_queues_a_generation(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "alice", "--avatar-prompt", "a fox portrait"]) == 0
    assert "avatar queued: seed" in capsys.readouterr().out
    [job] = _rows(instance, GenerationJob)
    assert isinstance(job, GenerationJob)
    assert (job.purpose, job.prompt, job.post_visibility) == ("avatar", "a fox portrait", None)


def test_follow_requests__none_pending(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["follow-requests", "alice"]) == 0
    assert capsys.readouterr().out == ""


def test_move__needs_the_alias_on_the_target(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["move", "alice", "--to", f"{BASE}/users/bob"]) == 1
    assert "alsoKnownAs" in capsys.readouterr().err
    assert main(["profile", "bob", "--also-known-as", "@alice@127.0.0.1:8000"]) == 0
    assert f"also known as: {BASE}/users/alice" in capsys.readouterr().out
    assert main(["move", "alice", "--to", f"{BASE}/users/bob"]) == 0
    actor, _ = _actor(instance, "alice")
    assert actor.moved_to == f"{BASE}/users/bob"
    assert main(["move", "alice", "--to", f"{BASE}/users/bob"]) == 1


def test_user_delete__scrubs_the_account_and_keeps_the_name(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", "alice", "--display-name", "Alice", "--field", "a=b"]) == 0
    assert main(["user", "delete", "alice"]) == 0
    assert "deleted alice" in capsys.readouterr().out
    actor, has_login = _actor(instance, "alice")
    assert actor.deleted_at is not None
    assert (actor.display_name, actor.fields, has_login) == ("", [], False)
    assert actor.private_key_pem.startswith("-----BEGIN")
    assert main(["profile", "alice"]) == 1
    assert main(["user", "delete", "alice"]) == 1
    assert main(["user", "create", "alice"]) == 1
