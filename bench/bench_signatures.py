"""Signature verification throughput: cavage-12 and RFC 9421 against a bare `cryptography` RSA verify.

Run from the repository root: `python bench/bench_signatures.py [seconds-per-measure]`.
Single-threaded; each figure is the best of three timed rounds. The floor is a bare RSA-2048
PKCS#1 v1.5/SHA-256 verify of the same signed bytes; the ratios say how much of it the library keeps.
Results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import cryptography
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from activitypub.httpsig import parse_signature_header, sign_request, signing_string, verify_request
from activitypub.rfc9421 import request_signature, sign_request_rfc9421, verify_request_rfc9421
from activitypub.sigbase import HttpMessage, signature_base

URL = "https://mastodon.example/users/alice/inbox"
KEY_ID = "https://social.example/users/bob#main-key"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _body(size: int = 2048) -> bytes:
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": "https://social.example/users/bob/statuses/1/activity",
        "type": "Create",
        "actor": "https://social.example/users/bob",
        "object": {"type": "Note", "content": ""},
    }
    base = len(json.dumps(activity).encode())
    activity["object"]["content"] = "x" * (size - base)  # type: ignore[index]
    body = json.dumps(activity).encode()
    assert len(body) == size
    return body


def _rate(fn: Callable[[], object], seconds: float) -> float:
    best = 0.0
    for _ in range(3):
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for _ in range(100):
                fn()
            count += 100
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - start))
    return best


def main(seconds: float = 0.5) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    body = _body()
    headers = {"content-type": "application/activity+json"}
    verify_at = NOW + timedelta(seconds=5)

    cavage = sign_request(method="POST", url=URL, headers=headers, body=body, key_id=KEY_ID, private_key=key, now=NOW)
    parsed = parse_signature_header(cavage["signature"])
    cavage_bytes = signing_string(parsed.headers, "POST", "/users/alice/inbox", cavage).encode()

    rfc = sign_request_rfc9421(
        method="POST", url=URL, headers=headers, body=body, key_id=KEY_ID, private_key=key, now=NOW
    )
    rfc_bytes = signature_base(HttpMessage(rfc, method="POST", url=URL), request_signature(rfc).components).encode()

    def bare(data: bytes, signature: bytes) -> Callable[[], None]:
        return lambda: public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())

    def cavage_verify() -> None:
        verify_request(
            method="POST",
            target="/users/alice/inbox",
            headers=cavage,
            body=body,
            public_key=public,
            now=verify_at,
        )

    def rfc_verify() -> None:
        verify_request_rfc9421(method="POST", url=URL, headers=rfc, body=body, public_key=public, now=verify_at)

    floor_cavage = _rate(bare(cavage_bytes, parsed.signature), seconds)
    cavage_rate = _rate(cavage_verify, seconds)
    floor_rfc = _rate(bare(rfc_bytes, request_signature(rfc).signature), seconds)
    rfc_rate = _rate(rfc_verify, seconds)

    print(f"python {platform.python_version()}, cryptography {cryptography.__version__}, {platform.machine()}")
    print(f"body {len(body)} bytes, RSA-2048, single thread, best of 3 x {seconds:.2f} s")
    print(f"{'case':<28}{'verifies/s':>12}{'floor/s':>12}{'ratio':>8}")
    for name, rate, floor in (
        ("cavage-12 verify_request", cavage_rate, floor_cavage),
        ("RFC 9421 verify_request", rfc_rate, floor_rfc),
    ):
        print(f"{name:<28}{rate:>12,.0f}{floor:>12,.0f}{rate / floor:>8.2f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.5)
