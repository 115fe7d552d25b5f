"""The wheels carried to a GPU machine (bench/gpu_wheels.py, scripts/gpu-kit): what the closure holds."""

from __future__ import annotations

from importlib import metadata

from packaging.markers import Marker

from bench.gpu_wheels import PROVIDED, _applies, closure


def test_closure__the_generation_extra_without_torch_or_what_the_image_has() -> None:
    pins = closure("fediserver", frozenset({"generation"}), "3.12")
    # The project's own runtime and the extra's libraries, at the versions the suite runs with here
    assert pins["starlette"] == metadata.version("starlette")
    assert pins["diffusers"] == metadata.version("diffusers")
    assert "c2pa-python" in pins
    # A dependency of a dependency (SQLAlchemy's greenlet on x86-64, alembic's Mako)
    assert {"greenlet", "mako"} <= pins.keys()
    # Not torch (the machine keeps its CUDA build), nor what the device image holds
    assert "torch" not in pins
    assert not PROVIDED & pins.keys()


def test_closure__an_extra_not_asked_for_is_left_out() -> None:
    pins = closure("fediserver", frozenset(), "3.12")
    assert "starlette" in pins
    assert "diffusers" not in pins
    assert "c2pa-python" not in pins


def test_applies__markers_read_for_the_target_python_not_this_one() -> None:
    older = Marker('python_version < "3.12"')
    assert _applies(older, "3.11", frozenset())
    assert not _applies(older, "3.12", frozenset())
    extra = Marker('extra == "generation"')
    assert _applies(extra, "3.12", frozenset({"generation"}))
    assert not _applies(extra, "3.12", frozenset())
