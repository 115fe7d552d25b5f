"""The command line, run in-process as a user would type it."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from fediserver.cli import build_parser, main
from fediserver.config import load_config
from fediserver.db import make_engine, session_factory
from fediserver.models import LocalActor, Note, User
from fediserver.passwords import verify_password

COMMANDS = [
    "init",
    "migrate",
    "serve",
    "worker",
    "gpu-worker",
    "user",
    "post",
    "generate",
    "assist",
    "follow",
    "unfollow",
    "timeline",
    "domain",
    "delete",
    "notifications",
    "token",
]


def _notes(config: Path) -> list[Note]:
    async def query() -> list[Note]:
        engine = make_engine(load_config(config, environ={}).database_url)
        try:
            async with session_factory(engine)() as session:
                result = await session.scalars(select(Note).options(selectinload(Note.attachments)))
                return list(result)
        finally:
            await engine.dispose()

    return asyncio.run(query())


def test_help__lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["--help"])
    assert excinfo.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", out, re.M), command


def test_every_command__takes_config() -> None:
    parser = build_parser()
    for argv in (
        ["init", "--domain", "x.example"],
        ["migrate"],
        ["serve"],
        ["worker"],
        ["user", "create", "bob"],
        ["user", "list"],
        ["post", "bob", "--text", "t"],
        ["generate", "--prompt", "p"],
    ):
        args = parser.parse_args([*argv, "--config", "/x.toml"])
        assert args.config == "/x.toml", argv
        args = parser.parse_args(["--config", "/y.toml", *argv])
        assert args.config == "/y.toml", argv


def test_init_migrate_user__end_to_end(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["user", "create", "alice", "--display-name", "Alice A.", "--admin"]) == 0
    out = capsys.readouterr().out
    assert "created @alice@127.0.0.1:8000 (admin)" in out
    password = re.search(r"^password: (\S+)$", out, re.M)
    assert password is not None
    assert main(["user", "list"]) == 0
    assert capsys.readouterr().out == "@alice@127.0.0.1:8000\tAlice A.\tadmin\n"

    async def stored_hash() -> str:
        engine = make_engine(load_config(instance, environ={}).database_url)
        try:
            async with session_factory(engine)() as session:
                user = await session.scalar(select(User).join(User.actor).where(LocalActor.username == "alice"))
                assert user is not None
                assert "BEGIN PRIVATE KEY" in user.actor.private_key_pem
                return user.password_hash
        finally:
            await engine.dispose()

    assert verify_password(password.group(1), asyncio.run(stored_hash()))


def test_user_create__reads_the_password_from_stdin(
    instance: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["user", "create", "bob", "--password-stdin"]) == 0
    out = capsys.readouterr().out
    assert "password:" not in out
    assert "correct horse" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["user", "create", "Bad Name"], "lowercase letters"),
        (["user", "create", "actor"], "reserved"),
        (["post", "nobody", "--text", "hi"], "no local user"),
    ],
)
def test_bad_input__exits_1_with_a_reason(
    instance: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_user_create__twice_is_a_conflict(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "create", "carol"]) == 0
    assert main(["user", "create", "carol"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_post__prints_the_url_and_stores_note_and_image(
    instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["user", "create", "alice"])
    image = tmp_path / "cat.png"
    Image.new("RGB", (48, 32), (200, 100, 50)).save(image)
    capsys.readouterr()
    argv = [
        "post",
        "alice",
        "--text",
        "A <cat>\nsee https://x.example",
        "--image",
        str(image),
        "--alt",
        "a cat",
    ]
    assert main([*argv, "--visibility", "unlisted"]) == 0
    url = capsys.readouterr().out.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/notes/[0-9a-f]{20}", url)
    [note] = _notes(instance)
    assert note.uri == url
    assert note.attributed_to == "http://127.0.0.1:8000/users/alice"
    assert note.content == (
        '<p>A &lt;cat&gt;<br />see <a href="https://x.example" target="_blank" rel="nofollow noopener" '
        'translate="no"><span class="invisible">https://</span><span class="">x.example</span>'
        '<span class="invisible"></span></a></p>'
    )
    assert note.to == ["http://127.0.0.1:8000/users/alice/followers"]
    assert note.cc == ["https://www.w3.org/ns/activitystreams#Public"]
    [media] = note.attachments
    assert (media.media_type, media.width, media.height, media.description) == ("image/png", 48, 32, "a cat")
    assert media.storage_key is not None
    media_dir = load_config(instance, environ={}).media_dir
    # Re-encoded, not copied: the same pixels, plus a thumbnail and a blurhash like generated images.
    with Image.open(media_dir / media.storage_key) as stored, Image.open(image) as original:
        assert stored.format == "PNG"
        assert stored.tobytes() == original.tobytes()
    assert media.thumbnail_key is not None
    assert (media_dir / media.thumbnail_key).is_file()
    assert media.blurhash is not None
    assert len(media.blurhash) == 28


def test_post__rejects_a_file_that_is_not_an_image(
    instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["user", "create", "alice"])
    bogus = tmp_path / "x.png"
    bogus.write_text("not an image")
    assert main(["post", "alice", "--text", "t", "--image", str(bogus)]) == 1
    assert "not a readable image" in capsys.readouterr().err
    assert _notes(instance) == []


def test_commands__refuse_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEDISERVER_CONFIG", str(tmp_path / "f.toml"))
    main(["init", "--domain", "social.example"])
    assert main(["user", "list"]) == 1
    assert "fediserver migrate" in capsys.readouterr().err


def test_missing_config__explains_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "none.toml"), "migrate"]) == 1
    assert "fediserver init" in capsys.readouterr().err


def test_init__json_safe_domain(tmp_path: Path) -> None:
    config = tmp_path / "q.toml"
    assert main(["--config", str(config), "init", "--domain", "Social.Example"]) == 0
    assert json.loads(json.dumps(load_config(config, environ={}).instance.domain)) == "social.example"


def test_generate__a_model_that_cannot_load_is_a_clear_error(
    instance: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "x.png"
    assert main(["generate", "--prompt", "a cat", "--model", "sd15", "--seed", "1", "--out", str(out)]) == 1
    assert "cannot load model 'sd15'" in capsys.readouterr().err
    assert not out.exists()


def test_generate__renders_writes_metadata_and_posts(
    instance: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from generation.images import read_digital_source_type, read_parameters

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    main(["user", "create", "alice"])
    capsys.readouterr()
    out = tmp_path / "fox.png"
    argv = [
        "generate",
        "--prompt",
        "a red fox",
        "--model",
        "tiny",
        "--seed",
        "7",
        "--out",
        str(out),
        "--post-as",
        "alice",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "model tiny, seed 7" in printed.out
    assert "step 2/2" in printed.err
    url = printed.out.strip().splitlines()[-1]
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/notes/[0-9a-f]{20}", url)
    png = out.read_bytes()
    assert read_digital_source_type(png) == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    parameters = read_parameters(png)
    assert parameters is not None
    assert (parameters["seed"], parameters["model"], parameters["prompt"]) == (7, "tiny", "a red fox")
    [note] = _notes(instance)
    assert note.uri == url
    assert note.generation_job_id is not None
    assert "AIGenerated" in note.content


def test_timeline__prints_own_and_followed_posts(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["user", "create", "alice"])
    main(["post", "alice", "--text", "first <post>"])
    capsys.readouterr()
    assert main(["timeline", "alice"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8000/users/alice" in out
    assert "first <post>" in out


def test_domain__block_list_unblock(instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["domain", "block", "Spam.Example", "--reason", "spam"]) == 0
    assert main(["domain", "block", "spam.example"]) == 0
    capsys.readouterr()
    assert main(["domain", "list"]) == 0
    assert capsys.readouterr().out == "spam.example\tspam\n"
    assert main(["domain", "unblock", "spam.example"]) == 0
    capsys.readouterr()
    main(["domain", "list"])
    assert capsys.readouterr().out == ""
    assert main(["domain", "block", "https://x.example/"]) == 1


def test_token_create_list_revoke__the_token_works_until_revoked(
    instance: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx

    from fediserver.app import AppOptions, create_app

    assert main(["user", "create", "dora"]) == 0
    assert main(["token", "create", "dora", "--scopes", "read write:statuses", "--app-name", "my bot"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    token, token_id = out[-1], re.search(r"^token id: (\d+)$", "\n".join(out), re.M)
    assert token_id is not None
    assert main(["token", "list", "dora"]) == 0
    listed = capsys.readouterr().out
    assert "my bot\tread write:statuses" in listed
    assert token not in listed

    async def status_code() -> int:
        app = create_app(load_config(instance, environ={}), AppOptions(run_worker=False))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
                response = await http.get(
                    "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"}
                )
                return response.status_code

    assert asyncio.run(status_code()) == 200
    assert main(["token", "revoke", token_id.group(1)]) == 0
    assert asyncio.run(status_code()) == 401
    assert main(["token", "create", "dora", "--scopes", "reed"]) == 1
