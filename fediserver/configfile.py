"""Write a new config file with fresh secrets (``fediserver init``)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from fediserver.config import ConfigError, load_config


def _toml_string(value: str) -> str:
    # A JSON string literal is a valid TOML basic string for the characters json.dumps emits.
    return json.dumps(value, ensure_ascii=False)


def render_config(domain: str, scheme: str, data_dir: str, secret_key: str) -> str:
    data = data_dir.rstrip("/") or "."
    # For local development the listening port is the one in the domain; behind a proxy it is 8000.
    port = domain.rsplit(":", 1)[1] if scheme == "http" and ":" in domain and "]" not in domain else "8000"
    return f"""# fediserver configuration, written by `fediserver init`.
# Every key, with its type, default and meaning, is documented in config.example.toml.

[instance]
domain = {_toml_string(domain)}
scheme = {_toml_string(scheme)}
# Signs sessions and tokens. Keep this file private.
secret_key = {_toml_string(secret_key)}

[server]
host = "127.0.0.1"
port = {port}

[database]
url = {_toml_string(f"sqlite+aiosqlite:///{data}/fediserver.db")}

[media]
directory = {_toml_string(f"{data}/media")}
"""


def write_new_config(path: Path, domain: str, scheme: str, data_dir: str, *, force: bool = False) -> None:
    """Write and validate a config file; refuses to overwrite one unless ``force``."""
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; remove it or pass --force to replace it")
    text = render_config(domain, scheme, data_dir, secrets.token_urlsafe(48))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    try:
        load_config(tmp, environ={})
    except ConfigError:
        tmp.unlink()
        raise
    tmp.replace(path)
