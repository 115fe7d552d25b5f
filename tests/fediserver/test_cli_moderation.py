"""``fediserver user role|suspend|unsuspend|silence|unsilence``: the domain's moderation functions from the CLI."""

from __future__ import annotations

import pytest

from fediserver.cli import main


def _listing(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["user", "list"]) == 0
    return capsys.readouterr().out


@pytest.mark.usefixtures("instance")
def test_role__moderator_then_admin_then_user(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "create", "bob"]) == 0
    assert main(["user", "role", "bob", "moderator"]) == 0
    assert _listing(capsys).strip().endswith("\tmoderator")
    assert main(["user", "role", "bob", "admin"]) == 0
    assert _listing(capsys).strip().endswith("\tadmin")
    assert main(["user", "role", "bob", "user"]) == 0
    assert _listing(capsys).strip().endswith("\tbob")


@pytest.mark.usefixtures("instance")
def test_role__unknown_role_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "create", "bob"]) == 0
    with pytest.raises(SystemExit) as excinfo:
        main(["user", "role", "bob", "overlord"])
    assert excinfo.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.usefixtures("instance")
def test_suspend_and_silence__show_in_the_list_and_are_lifted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "create", "bob"]) == 0
    assert main(["user", "suspend", "bob"]) == 0
    assert main(["user", "silence", "bob"]) == 0
    assert _listing(capsys).strip().endswith("\tsuspended\tsilenced")
    assert main(["user", "suspend", "bob"]) == 1
    assert "already suspended" in capsys.readouterr().err
    assert main(["user", "unsuspend", "bob"]) == 0
    assert main(["user", "unsilence", "bob"]) == 0
    assert _listing(capsys).strip().endswith("\tbob")


@pytest.mark.usefixtures("instance")
def test_suspend__unknown_user_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "suspend", "nobody"]) == 1
    assert "no local user" in capsys.readouterr().err
