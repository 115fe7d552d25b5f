"""Configuration: the example file matches the code, overrides work, errors name the key."""

from __future__ import annotations

import dataclasses
import logging
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from fediserver.config import ConfigError, Secret, load_config, parse_settings, section_types
from fediserver.configfile import write_new_config
from fediserver.logs import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"
SECRET = "s" * 40


def _example_comments() -> dict[str, list[str]]:
    """Key path -> the comment lines directly above it in config.example.toml."""
    comments: dict[str, list[str]] = {}
    section = ""
    pending: list[str] = []
    for line in EXAMPLE.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[]")
            pending = []
        elif stripped.startswith("#"):
            pending.append(stripped)
        elif "=" in stripped and section:
            comments[f"{section}.{stripped.split('=')[0].strip()}"] = pending
            pending = []
        else:
            pending = []
    return comments


def _default_as_toml(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def test_example__lists_every_key_with_its_default() -> None:
    raw = tomllib.loads(EXAMPLE.read_text())
    for name, cls in section_types().items():
        assert name in raw, f"section [{name}] missing from config.example.toml"
        fields = {f.name: f for f in dataclasses.fields(cls)}
        assert set(raw[name]) == set(fields), f"[{name}] keys differ from the code"
        defaults = cls()
        for key in fields:
            assert raw[name][key] == _default_as_toml(getattr(defaults, key)), f"{name}.{key} default differs"
    assert set(raw) == set(section_types())


def test_example__documents_type_and_default_for_every_key() -> None:
    comments = _example_comments()
    for name, cls in section_types().items():
        for f in dataclasses.fields(cls):
            text = " ".join(comments.get(f"{name}.{f.name}", []))
            assert re.search(r"Type: ", text), f"{name}.{f.name} has no 'Type:' comment"
            assert re.search(r"Default: ", text), f"{name}.{f.name} has no 'Default:' comment"
            assert len(text) > 60, f"{name}.{f.name} needs a sentence on what it means"


def test_example__loads_once_given_a_secret() -> None:
    settings = load_config(EXAMPLE, environ={"FEDISERVER_INSTANCE_SECRET_KEY": SECRET})
    assert settings.instance.scheme == "https"
    assert settings.generation.model == "sd-turbo"


def _raw(**overrides: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {"instance": {"domain": "example.com", "secret_key": SECRET}}
    for section, values in overrides.items():
        raw.setdefault(section, {}).update(values)
    return raw


def test_env__overrides_file_values_with_types(tmp_path: Path) -> None:
    env = {
        "FEDISERVER_SERVER_PORT": "9001",
        "FEDISERVER_FEDERATION_AUTHORIZED_FETCH": "true",
        "FEDISERVER_FEDERATION_BLOCKED_DOMAINS": "spam.example, bad.example",
        "FEDISERVER_GENERATION_DTYPE": "float16",
        "FEDISERVER_WORKER_POLL_INTERVAL": "0.25",
    }
    settings = parse_settings(_raw(server={"port": 8000}), env, tmp_path)
    assert settings.server.port == 9001
    assert settings.federation.authorized_fetch is True
    assert settings.federation.blocked_domains == ("spam.example", "bad.example")
    assert settings.generation.dtype == "float16"
    assert settings.worker.poll_interval == 0.25


@pytest.mark.parametrize(
    ("raw", "env", "key"),
    [
        (_raw(server={"port": "80"}), {}, "server.port"),
        (_raw(server={"port": 70000}), {}, "server.port"),
        (_raw(), {"FEDISERVER_SERVER_PORT": "eighty"}, "server.port"),
        (_raw(server={"processes": -1}), {}, "server.processes"),
        (_raw(instance={"scheme": "ftp"}), {}, "instance.scheme"),
        (_raw(instance={"scheme": "http"}), {}, "instance.scheme"),
        (_raw(instance={"secret_key": "short"}), {}, "instance.secret_key"),
        (_raw(instance={"domain": "Example.COM"}), {}, "instance.domain"),
        (_raw(instance={"domain": "https://example.com"}), {}, "instance.domain"),
        (_raw(database={"url": "mysql://x"}), {}, "database.url"),
        (_raw(federation={"blocked_domains": "spam.example"}), {}, "federation.blocked_domains"),
        (_raw(federation={"authorized_fetch": "yes"}), {}, "federation.authorized_fetch"),
        (_raw(generation={"width": 500}), {}, "generation.width"),
        (_raw(generation={"device": "tpu"}), {}, "generation.device"),
        (_raw(worker={"lease_seconds": 0}), {}, "worker.lease_seconds"),
        (_raw(server={"prot": 1}), {}, "server.prot"),
        (_raw(servr={"port": 1}), {}, "servr"),
    ],
)
def test_errors__name_the_key(raw: dict[str, Any], env: dict[str, str], key: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_settings(raw, env, tmp_path)
    assert str(excinfo.value).startswith(key)


def test_http__allowed_for_local_domains(tmp_path: Path) -> None:
    for domain in ("localhost:8000", "127.0.0.1:8000", "alice.test", "[::1]:8000"):
        settings = parse_settings(_raw(instance={"domain": domain, "scheme": "http"}), {}, tmp_path)
        assert settings.instance.scheme == "http"
    opted_in = _raw(instance={"scheme": "http"}, federation={"allow_private_addresses": True})
    assert parse_settings(opted_in, {}, tmp_path).instance.domain == "example.com"


def test_paths__are_anchored_at_the_config_folder(tmp_path: Path) -> None:
    settings = parse_settings(_raw(), {}, tmp_path)
    assert settings.media_dir == tmp_path / "data" / "media"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/data/fediserver.db"


def test_missing_file__says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fediserver init"):
        load_config(tmp_path / "nope.toml", environ={})


def test_config_path__comes_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    write_new_config(path, "example.com", "https", "data")
    settings = load_config(environ={"FEDISERVER_CONFIG": str(path)})
    assert settings.instance.domain == "example.com"


def test_secrets__never_reach_repr_or_logs(tmp_path: Path) -> None:
    secret_db = "postgresql+asyncpg://fedi:hunter2-db-password@db.example/fedi"
    settings = parse_settings(_raw(database={"url": secret_db}), {}, tmp_path)
    assert SECRET not in repr(settings)
    assert "hunter2" not in repr(settings)
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "settings", (), None)
    record.settings = settings
    assert "hunter2" not in JsonFormatter().format(record)
    assert SECRET not in JsonFormatter().format(record)
    assert settings.database.url.reveal() == secret_db


def test_init__writes_fresh_secrets_and_refuses_to_overwrite(tmp_path: Path) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    write_new_config(first, "social.example", "https", "data")
    write_new_config(second, "social.example", "https", "data")
    one = load_config(first, environ={})
    two = load_config(second, environ={})
    assert one.instance.secret_key != two.instance.secret_key
    assert len(one.instance.secret_key.reveal()) >= 32
    assert first.stat().st_mode & 0o077 == 0, "the config file holds secrets: owner-only"
    with pytest.raises(ConfigError, match="already exists"):
        write_new_config(first, "social.example", "https", "data")


def test_init__rejects_invalid_values_without_writing(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    with pytest.raises(ConfigError, match=r"instance\.scheme"):
        write_new_config(path, "social.example", "http", "data")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
