"""The demo renders the tiny model to files, signed, with no weights and no network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generation import images
from generation.demo import main


def test_demo__writes_signed_files(tiny_cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    status = main(
        [
            "a lighthouse",
            "--model",
            "tiny",
            "--seed",
            "42",
            "--device",
            "cpu",
            "--cache-dir",
            str(tiny_cache_dir),
            "--out",
            str(out),
        ]
    )
    assert status == 0
    assert sorted(p.name for p in out.iterdir()) == ["42.json", "42.png", "42.thumb.webp", "42.webp"]
    summary = json.loads((out / "42.json").read_text())
    assert summary["c2pa"] == "Trusted"
    assert summary["parameters"]["seed"] == 42
    assert "noise" in summary["notice"]
    assert images.read_digital_source_type((out / "42.png").read_bytes()) == images.TRAINED_ALGORITHMIC_MEDIA
    assert "step 2/2" in capsys.readouterr().err


def test_demo__reports_an_invalid_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["x", "--model", "tiny", "--width", "60", "--cache-dir", str(tmp_path), "--out", str(tmp_path)])
    assert status == 2
    assert "width must be a multiple of 8" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
