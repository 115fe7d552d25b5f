"""Fixtures for the generation tests: the tiny pipeline is built once per session, fully offline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from generation.provenance import ContentSigner, InstanceCertificates, create_instance_certificates

if TYPE_CHECKING:
    from generation._torch.engine import DiffusersEngine
    from generation.backend import WritingEngine


@pytest.fixture(scope="session", autouse=True)
def _offline_hub() -> Iterator[None]:
    # huggingface_hub reads HF_HUB_OFFLINE when it is first imported, which happens inside the
    # fixtures below, after this one: an accidental hub id then fails fast instead of hanging.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def tiny_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory in which the tiny pipeline has been built and saved."""
    from generation._torch.tiny import ensure_tiny_pipeline

    cache = tmp_path_factory.mktemp("model-cache")
    ensure_tiny_pipeline(cache)
    return cache


@pytest.fixture(scope="session")
def tiny_engine(tiny_cache_dir: Path) -> DiffusersEngine:
    """The tiny engine on the CPU, shared by the session (tests must leave it as they found it)."""
    import torch

    from generation.backend import load_engine

    # One thread: on a shared 2-core machine two threads make step times jump tenfold.
    torch.set_num_threads(1)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    return load_engine("tiny", cache_dir=tiny_cache_dir, device="cpu")


@pytest.fixture(scope="session")
def certificates() -> InstanceCertificates:
    return create_instance_certificates("gen.example")


@pytest.fixture(scope="session")
def signer(certificates: InstanceCertificates) -> ContentSigner:
    return ContentSigner(certificates)


@pytest.fixture(scope="session")
def tiny_assist_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory with the tiny writing-help models (LM and captioner) built in it."""
    from generation._torch.tiny_assist import ensure_tiny_captioner, ensure_tiny_lm

    cache = tmp_path_factory.mktemp("assist-cache")
    ensure_tiny_lm(cache)
    ensure_tiny_captioner(cache)
    return cache


@pytest.fixture(scope="session")
def tiny_assist_engine(tiny_assist_cache: Path) -> WritingEngine:
    """The tiny writing engine on the CPU, shared by the session."""
    import torch

    from generation.backend import load_assist_engine

    torch.set_num_threads(1)
    return load_assist_engine(text_model="tiny", caption_model="tiny", cache_dir=tiny_assist_cache, device="cpu")
