"""Declarative base and column types shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, Index, Integer, MetaData, String, Text, TypeDecorator, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so migrations can drop and alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which has no zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


# The states a claim can take a job in (``fediserver.jobs.queue``), as the claim writes them: literally, so
# that PostgreSQL can match ``claimable_index``'s predicate in a generic plan (asyncpg prepares each statement
# once), which knows no bound value. SQLite, with no statistics, reads the state index whatever it is given.
CLAIMABLE_STATES_SQL = "state IN ('queued', 'running')"


def claimable_index(table: str) -> Index:
    """A queue table's index for claims: the jobs a claim can take, in the order it takes them.

    Done and failed jobs are kept; on an index of every row's ``next_attempt_at`` a claim walked all of
    them before the first due job, and each claim of a long backlog cost tens of milliseconds
    (docs/benchmarks.md)."""
    where = text(CLAIMABLE_STATES_SQL)
    return Index(f"ix_{table}_claimable", "next_attempt_at", "id", sqlite_where=where, postgresql_where=where)


class QueueMixin:
    """Columns every durable job table has: a state, attempts, when next due, and a worker's lease. Each
    table adds ``claimable_index`` to its ``__table_args__``."""

    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
