"""Fixtures for the protocol-library tests: the RFC 9421 Appendix B keys and the vector files."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from activitypub.keys import PrivateKey, PublicKey, load_private_key, load_public_key

HERE = Path(__file__).parent
KEYS = HERE / "keys"
VECTORS = HERE / "vectors"


def load_vectors(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text("utf-8"))["cases"]
    return cases


def private_key(name: str) -> PrivateKey | bytes:
    if name == "test-shared-secret":
        return base64.b64decode((KEYS / "test-shared-secret.b64").read_text())
    return load_private_key((KEYS / f"{name}.pem").read_bytes())


def public_key(name: str) -> PublicKey | bytes:
    if name == "test-shared-secret":
        return base64.b64decode((KEYS / "test-shared-secret.b64").read_text())
    return load_public_key((KEYS / f"{name}.pub.pem").read_bytes())


@pytest.fixture
def vectors() -> Callable[[str], list[dict[str, Any]]]:
    return load_vectors
