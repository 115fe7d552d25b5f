"""``fediserver assist``: writing help in its own process, the answer streamed to standard output."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from fediserver.cli import main
from generation.assist import TINY_ASSIST_NOTICE


@pytest.fixture
def instance(tmp_path: Path, tiny_assist_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "fediserver.toml"
    monkeypatch.setenv("FEDISERVER_CONFIG", str(config))
    monkeypatch.setenv("FEDISERVER_GENERATION_CACHE_DIR", str(tiny_assist_cache))
    monkeypatch.setenv("FEDISERVER_GENERATION_DEVICE", "cpu")
    assert main(["init", "--domain", "127.0.0.1:8000", "--scheme", "http"]) == 0
    return config


def test_rewrite_and_prompt__print_the_answer_the_model_and_the_noise_notice(
    instance: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert (
        main(["assist", "rewrite", "--text", "my post", "--style", "friendlier", "--model", "tiny", "--seed", "7"]) == 0
    )
    out = capsys.readouterr().out
    assert "model tiny, seed 7," in out
    assert f"note: {TINY_ASSIST_NOTICE}" in out
    assert main(["assist", "prompt", "--idea", "a fox", "--model", "tiny", "--seed", "7"]) == 0
    assert "answer: " in capsys.readouterr().out


def test_alt_text__reads_the_image_file(instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "photo.png"
    buffer = io.BytesIO()
    Image.new("RGB", (30, 30), (0, 200, 0)).save(buffer, "PNG")
    image.write_bytes(buffer.getvalue())
    capsys.readouterr()
    assert main(["assist", "alt-text", str(image), "--model", "tiny"]) == 0
    assert "answer: " in capsys.readouterr().out
    assert main(["assist", "alt-text", str(tmp_path / "missing.png"), "--model", "tiny"]) == 1
    assert "IMAGE:" in capsys.readouterr().err


def test_switched_off__exits_with_the_reason(
    instance: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEDISERVER_ASSIST_REWRITE", "false")
    assert main(["assist", "rewrite", "--text", "x", "--model", "tiny"]) == 1
    assert "switched off" in capsys.readouterr().err
