"""Settings: one TOML file, overridden by ``FEDISERVER_<SECTION>_<KEY>`` environment variables.

``load_config(path, environ)`` is the only entry point; nothing is read at import time. Every key is
documented in ``config.example.toml`` and a test holds that file against the dataclasses below.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ENV_PREFIX = "FEDISERVER_"
CONFIG_ENV = "FEDISERVER_CONFIG"
DEFAULT_CONFIG_PATH = "fediserver.toml"


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


class Secret:
    """A string that never shows itself in ``repr``/``str`` (starlette's ``Secret``)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


Scheme = Literal["https", "http"]
RegistrationMode = Literal["closed", "approval", "invite", "open"]
Inviters = Literal["admins", "members"]
LogFormat = Literal["json", "text"]
LogLevel = Literal["debug", "info", "warning", "error"]
Device = Literal["auto", "cuda", "mps", "cpu"]
DType = Literal["auto", "bfloat16", "float16", "float32"]
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


@dataclass(frozen=True)
class InstanceSettings:
    domain: str = "localhost:8000"
    scheme: Scheme = "https"
    name: str = "fediserver"
    description: str = "A fediverse instance for images made on its own GPU."
    registration: RegistrationMode = "closed"
    invites: Inviters = "admins"
    rules: tuple[str, ...] = ()
    generation_daily_limit: int = 0
    secret_key: Secret = field(default_factory=lambda: Secret(""))
    max_characters: int = 500


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    max_request_bytes: int = 1_048_576
    # 0: one per CPU core this process may run on, at most ``MAX_AUTO_PROCESSES`` (``server_processes``).
    processes: int = 0


@dataclass(frozen=True)
class DatabaseSettings:
    url: Secret = field(default_factory=lambda: Secret("sqlite+aiosqlite:///data/fediserver.db"))
    echo: bool = False
    pool_size: int = 20


@dataclass(frozen=True)
class MediaSettings:
    directory: Path = Path("data/media")
    max_upload_bytes: int = 16_777_216
    # Mastodon's MAX_MATRIX_LIMIT (7680x4320): about 130 MB of RGBA while it is cleaned.
    max_pixels: int = 33_177_600


@dataclass(frozen=True)
class FederationSettings:
    authorized_fetch: bool = False
    allow_private_addresses: bool = False
    blocked_domains: tuple[str, ...] = ()
    delivery_give_up_hours: float = 48.0
    delivery_concurrency: int = 16
    delivery_per_host: int = 2


@dataclass(frozen=True)
class WorkerSettings:
    poll_interval: float = 1.0
    lease_seconds: float = 300.0
    delivery_max_attempts: int = 25
    inbound_max_attempts: int = 5
    inbound_concurrency: int = 8
    nice: int = 10


@dataclass(frozen=True)
class GenerationSettings:
    model: str = "sd-turbo"
    device: Device = "auto"
    dtype: DType = "auto"
    steps: int = 0
    width: int = 512
    height: int = 512
    max_batch: int = 4
    compile: bool = False
    compile_mode: CompileMode = "default"
    c2pa: bool = True
    enabled: bool = True
    cache_dir: Path = Path("data/models")
    max_attempts: int = 3
    finish_processes: int = -1


@dataclass(frozen=True)
class AssistSettings:
    enabled: bool = True
    alt_text: bool = True
    rewrite: bool = True
    prompt: bool = True
    text_model: str = "Qwen/Qwen2.5-1.5B-Instruct"
    caption_model: str = "florence-community/Florence-2-base"
    memory_budget_mb: int = 8192
    daily_limit: int = 200
    max_new_tokens: int = 200
    disclosure: bool = True
    disclosure_text: str = "Text written with help from AI."


@dataclass(frozen=True)
class LoggingSettings:
    level: LogLevel = "info"
    format: LogFormat = "json"


@dataclass(frozen=True)
class ApiSettings:
    """The Mastodon client API (``/api/v1``): rate limits as Mastodon's defaults (MD:/api/rate-limits/)."""

    rate_limit_requests: int = 300
    rate_limit_window_seconds: float = 300.0
    streaming_backend: Literal["memory", "postgresql", "redis"] = "memory"
    streaming_queue_size: int = 100
    streaming_redis_url: str = "redis://127.0.0.1:6379/0"
    streaming_poll_interval: float = 1.0


@dataclass(frozen=True)
class Settings:
    """The whole configuration; ``base_dir`` (the config file's folder) anchors relative paths."""

    instance: InstanceSettings = field(default_factory=InstanceSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    federation: FederationSettings = field(default_factory=FederationSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    assist: AssistSettings = field(default_factory=AssistSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    base_dir: Path = Path(".")

    @property
    def media_dir(self) -> Path:
        return _anchor(self.base_dir, self.media.directory)

    @property
    def model_cache_dir(self) -> Path:
        return _anchor(self.base_dir, self.generation.cache_dir)

    @property
    def certificates_dir(self) -> Path:
        """The instance-local C2PA certificate chain, made on first use."""
        return _anchor(self.base_dir, self.generation.cache_dir).parent / "c2pa"

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path anchored at ``base_dir``."""
        return anchor_sqlite_url(self.database.url.reveal(), self.base_dir)


def section_types() -> dict[str, type[Any]]:
    """Section name -> dataclass, with string annotations resolved."""
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings) if f.name != "base_dir"}


def _anchor(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path)


def anchor_sqlite_url(url: str, base_dir: Path) -> str:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix):
        rest = url[len(prefix) :]
        if rest and rest != ":memory:" and not rest.startswith("/") and not rest.startswith("file:"):
            return prefix + str((base_dir / rest).resolve())
    return url


def _coerce(key: str, tp: Any, value: Any, *, from_env: bool) -> Any:
    origin = typing.get_origin(tp)
    if tp is Secret:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string")
        return Secret(value)
    if tp is bool:
        if from_env and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if from_env and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if from_env and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a path string, got {value!r}")
        return Path(value)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: expected one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    if origin is tuple:
        if from_env and isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return tuple(value)
    raise TypeError(f"unsupported setting type for {key}: {tp!r}")  # pragma: no cover


def _build_section(name: str, cls: type[Any], raw: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{name}.{key}: unknown key (see config.example.toml)")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        env_name = f"{ENV_PREFIX}{name}_{f.name}".upper()
        if env_name in environ:
            values[f.name] = _coerce(f"{name}.{f.name}", hints[f.name], environ[env_name], from_env=True)
        elif f.name in raw:
            values[f.name] = _coerce(f"{name}.{f.name}", hints[f.name], raw[f.name], from_env=False)
    return cls(**values)


def parse_settings(raw: Mapping[str, Any], environ: Mapping[str, str], base_dir: Path) -> Settings:
    """Build validated settings from parsed TOML and the environment."""
    sections = section_types()
    for name, value in raw.items():
        if name not in sections:
            raise ConfigError(f"{name}: unknown section (see config.example.toml)")
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a table")
    built = {name: _build_section(name, cls, raw.get(name, {}), environ) for name, cls in sections.items()}
    settings = Settings(**built, base_dir=base_dir)
    validate(settings)
    return settings


def load_config(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file at ``path`` (default: ``$FEDISERVER_CONFIG`` or ``./fediserver.toml``)."""
    env: Mapping[str, str] = environ if environ is not None else {}
    config_path = Path(path or env.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {config_path} not found: run `fediserver init --domain HOST` first") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from None
    return parse_settings(raw, env, config_path.resolve().parent)


def _host_of(domain: str) -> str:
    if domain.startswith("["):
        return domain[1 : domain.index("]")] if "]" in domain else domain
    return domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain


def is_local_host(host: str) -> bool:
    """True for names and addresses that only make sense on one machine or a private network."""
    if host == "localhost" or host.endswith((".localhost", ".test", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def validate(settings: Settings) -> None:
    """Cross-field checks; each error names the key to change."""
    inst = settings.instance
    domain = inst.domain.strip()
    if not domain or "/" in domain or "@" in domain or domain != domain.lower():
        raise ConfigError(
            f"instance.domain: expected a lowercase host name with an optional :port, got {inst.domain!r}"
        )
    if ":" in domain and not domain.startswith("["):
        port = domain.rsplit(":", 1)[1]
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"instance.domain: invalid port in {inst.domain!r}")
    if inst.scheme == "http" and not (is_local_host(_host_of(domain)) or settings.federation.allow_private_addresses):
        raise ConfigError(
            "instance.scheme: http is only for local development; use https, or a local domain "
            "(localhost, 127.0.0.1, *.test), or set federation.allow_private_addresses = true"
        )
    if len(inst.secret_key.reveal()) < 32:
        raise ConfigError("instance.secret_key: must be at least 32 characters (fediserver init writes one)")
    if settings.server.processes < 0:
        raise ConfigError(f"server.processes: must be 0 (one per core) or positive, got {settings.server.processes}")
    if not 0 < settings.server.port < 65536:
        raise ConfigError(f"server.port: must be between 1 and 65535, got {settings.server.port}")
    url = settings.database.url.reveal()
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError("database.url: expected a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
    if settings.api.streaming_backend == "postgresql" and not url.startswith("postgresql+asyncpg://"):
        raise ConfigError('api.streaming_backend: "postgresql" needs a postgresql+asyncpg:// database.url')
    if settings.api.streaming_backend == "redis" and not settings.api.streaming_redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError("api.streaming_redis_url: expected a redis://, rediss:// or unix:// URL")
    for key, value in (
        ("server.max_request_bytes", settings.server.max_request_bytes),
        ("database.pool_size", settings.database.pool_size),
        ("media.max_upload_bytes", settings.media.max_upload_bytes),
        ("media.max_pixels", settings.media.max_pixels),
        ("federation.delivery_concurrency", settings.federation.delivery_concurrency),
        ("federation.delivery_per_host", settings.federation.delivery_per_host),
        ("generation.max_batch", settings.generation.max_batch),
        ("worker.delivery_max_attempts", settings.worker.delivery_max_attempts),
        ("worker.inbound_max_attempts", settings.worker.inbound_max_attempts),
        ("worker.inbound_concurrency", settings.worker.inbound_concurrency),
        ("instance.max_characters", settings.instance.max_characters),
        ("api.rate_limit_requests", settings.api.rate_limit_requests),
        ("api.streaming_queue_size", settings.api.streaming_queue_size),
    ):
        if value <= 0:
            raise ConfigError(f"{key}: must be positive, got {value}")
    for key, number in (
        ("federation.delivery_give_up_hours", settings.federation.delivery_give_up_hours),
        ("worker.poll_interval", settings.worker.poll_interval),
        ("worker.lease_seconds", settings.worker.lease_seconds),
        ("api.rate_limit_window_seconds", settings.api.rate_limit_window_seconds),
        ("api.streaming_poll_interval", settings.api.streaming_poll_interval),
    ):
        if number <= 0:
            raise ConfigError(f"{key}: must be positive, got {number}")
    if not 0 <= settings.worker.nice <= 19:
        raise ConfigError(f"worker.nice: must be between 0 and 19, got {settings.worker.nice}")
    gen = settings.generation
    if gen.steps < 0:
        raise ConfigError("generation.steps: must be 0 (the model's default) or positive")
    if gen.max_attempts <= 0:
        raise ConfigError(f"generation.max_attempts: must be positive, got {gen.max_attempts}")
    if gen.finish_processes < -1:
        raise ConfigError(f"generation.finish_processes: must be -1 (auto), 0 or positive, got {gen.finish_processes}")
    for key, size in (("generation.width", gen.width), ("generation.height", gen.height)):
        if size < 64 or size > 4096 or size % 8:
            raise ConfigError(f"{key}: must be a multiple of 8 between 64 and 4096, got {size}")
    for blocked in settings.federation.blocked_domains:
        if not blocked or "/" in blocked or blocked != blocked.lower():
            raise ConfigError(f"federation.blocked_domains: {blocked!r} is not a lowercase host name")
