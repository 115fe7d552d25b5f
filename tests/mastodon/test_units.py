"""Pure parts: scopes and their hierarchy, Mastodon's id layout, PKCE S256 (RFC 7636 appendix B)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fediserver.mastodon.entities import iso
from fediserver.mastodon.ids import Snowflake, account_id, parse_account_id, snowflake
from fediserver.oauth.grants import OAuthError, parse_redirect_uris, s256
from fediserver.oauth.scopes import InvalidScope, Scopes


def test_scopes__parent_grants_children_and_follow_its_legacy_set() -> None:
    granted = Scopes.parse("read write:statuses follow")
    assert granted.allows("read:statuses")
    assert granted.allows("write:statuses")
    assert granted.allows("write:follows")
    assert not granted.allows("write:media")
    assert not granted.allows("push")
    assert not Scopes.parse("read:accounts").allows("read:statuses")


def test_scopes__split_on_plus_and_spaces_with_read_as_default() -> None:
    assert Scopes.parse("read+write  follow").names == {"read", "write", "follow"}
    assert Scopes.parse("").names == {"read"}
    assert str(Scopes.parse("write:media push read")) == "read push write:media"
    with pytest.raises(InvalidScope, match="reed"):
        Scopes.parse("reed")


def test_scopes__within_the_apps_scopes() -> None:
    app = Scopes.parse("read write")
    assert Scopes.parse("read:statuses write").within(app)
    assert not Scopes.parse("read follow").within(app)


def test_pkce_s256__rfc7636_appendix_b_vector() -> None:
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj") != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_snowflake__mastodon_layout_sorts_by_time_and_decodes() -> None:
    at = datetime(2025, 1, 31, 12, 34, 56, 789000, tzinfo=UTC)
    sid = snowflake(at, 70000)
    ms = int(at.timestamp() * 1000)
    assert sid == str((ms << 16) | (70000 % 65536))
    parsed = Snowflake.parse(sid)
    assert parsed is not None
    assert parsed.start == at
    assert parsed.seq == 70000 % 65536
    later = snowflake(datetime(2025, 1, 31, 12, 34, 56, 790000, tzinfo=UTC), 1)
    assert int(later) > int(sid)
    # Mastodon.py turns a datetime cursor into (unix_s << 16) * 1000: it lands at that second.
    cursor = Snowflake.parse(str((int(at.timestamp()) << 16) * 1000))
    assert cursor is not None
    assert cursor.start == datetime(2025, 1, 31, 12, 34, 56, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", "abc", "-1", "1" * 20, str(1 << 63), "12a"])
def test_snowflake__rejects_what_is_not_an_id(bad: str) -> None:
    assert Snowflake.parse(bad) is None


def test_account_ids__local_and_remote_never_collide() -> None:
    assert parse_account_id(account_id(local_id=5)) == ("local", 5)
    assert parse_account_id(account_id(remote_id=5)) == ("remote", 5)
    assert account_id(local_id=5) != account_id(remote_id=5)
    assert parse_account_id("x1") is None


def test_iso__three_fraction_digits_and_z() -> None:
    assert iso(datetime(2025, 1, 31, 12, 34, 56, 789123, tzinfo=UTC)) == "2025-01-31T12:34:56.789Z"
    assert iso(datetime(2025, 1, 31, 12, 34, 56, tzinfo=UTC)) == "2025-01-31T12:34:56.000Z"


def test_redirect_uris__custom_schemes_and_newlines_accepted_script_schemes_refused() -> None:
    uris = parse_redirect_uris("com.tapbots.Ivory.19300:/request_token/abc\nurn:ietf:wg:oauth:2.0:oob")
    assert uris == ["com.tapbots.Ivory.19300:/request_token/abc", "urn:ietf:wg:oauth:2.0:oob"]
    assert parse_redirect_uris(["oauth2redirect://com.keylesspalace.tusky/"]) == [
        "oauth2redirect://com.keylesspalace.tusky/"
    ]
    for bad in ("javascript:alert(1)", "data:text/html,x", "no-scheme", ""):
        with pytest.raises(OAuthError) as excinfo:
            parse_redirect_uris(bad)
        assert excinfo.value.status == 422
