"""Origin rules (FEP-fe34), reciprocal key ownership, and verify-then-refetch with a per-host limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from activitypub.errors import DigestError, InvalidObject, KeyMismatchError, SignatureError
from activitypub.keyring import RefetchLimiter, verify_with_refetch
from activitypub.keys import PublicKey
from activitypub.origin import (
    check_activity_origins,
    check_key_ownership,
    check_signer,
    embedded_needs_refetch,
    origin,
    same_origin,
)

ALICE = "https://social.example/users/alice"
KEY = f"{ALICE}#main-key"


def test_origin__normalises_case_and_default_port() -> None:
    assert origin("HTTPS://Social.Example/x") == ("https", "social.example", 443)
    assert same_origin("https://a.example/x", "https://a.example:443/y")
    assert not same_origin("https://a.example/", "http://a.example/")
    assert not same_origin("https://a.example/", "https://a.example:8443/")
    with pytest.raises(InvalidObject):
        origin("mailto:a@b")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://a.example/notes/1", "https://a.example/users/b", True),
        ("https://a.example/notes/1", "https://a.example", True),
        ("https://a.example?x=1", "https://a.example/users/b", True),
        ("https://a.example.evil/notes/1", "https://a.example/users/b", False),
        ("https://a.example:8443/notes/1", "https://a.example/users/b", False),
        ("https://a.example@evil.example/notes/1", "https://a.example/users/b", False),
        ("http://a.example/notes/1", "https://a.example/users/b", False),
        ("https://A.EXAMPLE/notes/1", "https://a.example/users/b", True),
        ("https://a.example:443/notes/1", "https://a.example/users/b", True),
    ],
)
def test_same_origin__the_literal_prefix_and_the_parse_agree(a: str, b: str, same: bool) -> None:
    assert same_origin(a, b) is same
    assert (origin(a) == origin(b)) is same


def test_same_origin__an_invalid_reference_url_still_raises() -> None:
    with pytest.raises(InvalidObject):
        same_origin("https://a.example/x", "mailto:a@b")


def _create(**changes: Any) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "id": f"{ALICE}/statuses/1/activity",
        "type": "Create",
        "actor": ALICE,
        "object": {"id": f"{ALICE}/statuses/1", "type": "Note", "attributedTo": ALICE},
    }
    for path, value in changes.items():
        target = activity
        *parents, leaf = path.split("__")
        for name in parents:
            target = target[name]
        target[leaf] = value
    return activity


def test_check_activity_origins__same_origin_passes() -> None:
    check_activity_origins(_create())


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "https://evil.example/activities/1"},
        {"object__id": "https://evil.example/notes/1"},
        {"object__attributedTo": "https://evil.example/users/mallory"},
    ],
)
def test_check_activity_origins__cross_origin_create_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidObject, match="origin"):
        check_activity_origins(_create(**changes))


def test_check_activity_origins__update_of_another_actor_refused() -> None:
    update = _create(type="Update", object={"id": f"{ALICE}x", "type": "Person"})
    with pytest.raises(InvalidObject, match="from that actor"):
        check_activity_origins(update)
    check_activity_origins(_create(type="Update", object={"id": ALICE, "type": "Person"}))


def test_check_activity_origins__undo_of_someone_elses_follow_refused() -> None:
    undo = _create(
        type="Undo",
        object={"id": "https://other.example/f/1", "type": "Follow", "actor": "https://other.example/u/b"},
    )
    with pytest.raises(InvalidObject, match="owned by"):
        check_activity_origins(undo)


def test_check_activity_origins__announce_may_point_elsewhere() -> None:
    check_activity_origins(_create(type="Announce", object="https://elsewhere.example/notes/9"))


def test_embedded_needs_refetch__only_for_foreign_embeds() -> None:
    assert not embedded_needs_refetch(_create())
    assert embedded_needs_refetch(_create(object__id="https://elsewhere.example/notes/1"))
    assert not embedded_needs_refetch(_create(object="https://elsewhere.example/notes/1"))


def test_check_signer__actor_must_own_key() -> None:
    check_signer(ALICE, _create())
    with pytest.raises(SignatureError, match="not the signer"):
        check_signer("https://social.example/users/bob", _create())


ACTOR_DOC = {"id": ALICE, "type": "Person", "publicKey": {"id": KEY, "owner": ALICE, "publicKeyPem": "PEM"}}


def test_check_key_ownership__reciprocal_passes() -> None:
    assert check_key_ownership(KEY, ACTOR_DOC["publicKey"], ACTOR_DOC, ALICE) == ALICE  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key_id", "key_doc", "actor_doc", "fetched_from", "reason"),
    [
        (KEY + "2", {"id": KEY, "owner": ALICE}, ACTOR_DOC, ALICE, "is not the keyId"),
        (KEY, {"id": KEY, "owner": "https://social.example/users/bob"}, ACTOR_DOC, ALICE, "names owner"),
        (KEY, {"id": KEY, "owner": ALICE}, ACTOR_DOC, "https://social.example/@alice", "served from"),
        (
            KEY,
            {"id": KEY, "owner": ALICE},
            {"id": ALICE, "publicKey": {"id": KEY + "x"}},
            ALICE,
            "does not list",
        ),
    ],
)
def test_check_key_ownership__one_broken_link_fails(
    key_id: str, key_doc: dict[str, Any], actor_doc: dict[str, Any], fetched_from: str, reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        check_key_ownership(key_id, key_doc, actor_doc, fetched_from)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


OLD = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
NEW = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()


def _verify_new(key: PublicKey) -> str:
    if key is not NEW:
        raise KeyMismatchError("signature does not verify")
    return "ok"


async def test_verify_with_refetch__rotated_key_refetched_once_then_rate_limited() -> None:
    clock = Clock()
    limiter = RefetchLimiter(clock)
    fetched: list[str] = []

    async def refetch(key_id: str) -> PublicKey:
        fetched.append(key_id)
        return NEW

    assert await verify_with_refetch(KEY, OLD, _verify_new, refetch, limiter) == "ok"
    assert fetched == [KEY]
    with pytest.raises(KeyMismatchError):
        await verify_with_refetch(KEY, OLD, _verify_new, refetch, limiter)
    assert fetched == [KEY]
    clock.now += timedelta(minutes=5)
    assert await verify_with_refetch(KEY, OLD, _verify_new, refetch, limiter) == "ok"
    assert fetched == [KEY, KEY]


async def test_verify_with_refetch__non_key_errors_do_not_refetch() -> None:
    async def refetch(key_id: str) -> PublicKey:
        raise AssertionError("must not refetch")

    def digest_fails(key: PublicKey) -> str:
        raise DigestError("Invalid Digest value")

    with pytest.raises(DigestError):
        await verify_with_refetch(KEY, OLD, digest_fails, refetch, RefetchLimiter(Clock()))


async def test_verify_with_refetch__no_cached_key_fetches() -> None:
    async def refetch(key_id: str) -> PublicKey:
        return NEW

    assert await verify_with_refetch(KEY, None, _verify_new, refetch, RefetchLimiter(Clock())) == "ok"
