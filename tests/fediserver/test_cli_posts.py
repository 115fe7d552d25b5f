"""``post`` with mentions, replies, direct visibility, edits and the length limit; ``delete``;
``notifications`` (run in-process as a user would type them)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from fediserver.cli import main
from fediserver.config import load_config
from fediserver.db import make_engine, session_factory
from fediserver.models import Note, NoteEdit

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def instance(instance: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    for name in ("alice", "bob"):
        assert main(["user", "create", name]) == 0
    capsys.readouterr()
    return instance


def _query(config: Path, statement: object) -> list[object]:
    async def run() -> list[object]:
        engine = make_engine(load_config(config, environ={}).database_url)
        try:
            async with session_factory(engine)() as session:
                return list(await session.scalars(statement))  # type: ignore[call-overload]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _post(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["post", *argv]) == 0, capsys.readouterr().err
    return capsys.readouterr().out.strip()


def test_post__mentions_reply_direct_edit_delete_and_notifications(
    instance: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _post(capsys, "alice", "--text", "hello #Art")
    reply = _post(capsys, "bob", "--text", "@alice nice one", "--reply-to", first)
    direct = _post(capsys, "bob", "--text", "@alice secret", "--visibility", "direct")
    notes = {n.uri: n for n in _query(instance, select(Note)) if isinstance(n, Note)}
    assert notes[reply].in_reply_to_uri == first
    assert notes[reply].cc == [f"{BASE}/users/bob/followers", f"{BASE}/users/alice"]
    assert (notes[direct].visibility, notes[direct].to, notes[direct].cc) == ("direct", [f"{BASE}/users/alice"], [])
    assert '<span class="h-card" translate="no"><a href="http://127.0.0.1:8000/@alice"' in notes[direct].content
    assert {"type": "Hashtag", "href": f"{BASE}/tags/art", "name": "#Art"} in notes[first].tags

    assert main(["notifications", "alice", "--unread", "--mark-read"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[3:] for line in lines] == [
        ["mention", f"{BASE}/users/bob", direct],
        ["mention", f"{BASE}/users/bob", reply],
    ]
    assert main(["notifications", "alice", "--unread"]) == 0
    assert capsys.readouterr().out == ""

    assert _post(capsys, "alice", "--edit", first, "--text", "hello again #Art") == first
    [edit] = [e for e in _query(instance, select(NoteEdit)) if isinstance(e, NoteEdit)]
    assert "again" not in edit.content
    assert main(["post", "bob", "--edit", first, "--text", "not mine"]) == 1
    assert "bob has no post" in capsys.readouterr().err

    assert main(["delete", "alice", first]) == 0
    assert capsys.readouterr().out.strip() == f"deleted {first}"
    [gone] = [n for n in _query(instance, select(Note).where(Note.uri == first)) if isinstance(n, Note)]
    assert gone.deleted_at is not None


def test_post__length_counted_like_mastodon(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["post", "alice", "--text", "x" * 501]) == 1
    assert "501 characters, at most 500" in capsys.readouterr().err
    # A long link counts as 23.
    _post(capsys, "alice", "--text", "x" * 470 + " https://example.com/" + "y" * 300)
    assert main(["post", "alice", "--text", "hi", "--reply-to", f"{BASE}/notes/nothing"]) == 1
    assert "no such post" in capsys.readouterr().err


def test_post__assisted_text_carries_the_disclosure_unless_switched_off(
    instance: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    helped = _post(capsys, "alice", "--text", "Rewritten by the assistant", "--assisted")
    plain = _post(capsys, "alice", "--text", "All mine")
    monkeypatch.setenv("FEDISERVER_ASSIST_DISCLOSURE", "false")
    unlabelled = _post(capsys, "alice", "--text", "Helped, label off", "--assisted")
    by_uri = {n.uri: n for n in _query(instance, select(Note)) if isinstance(n, Note)}
    assert "Text written with help from AI." in by_uri[helped].content
    assert "Text written with help from AI." not in by_uri[plain].content
    assert "Text written with help from AI." not in by_uri[unlabelled].content
