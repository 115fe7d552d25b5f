"""SQLAlchemy's aiosqlite adapter, with one trip to the connection's thread per statement.

aiosqlite runs each SQLite connection on a thread of its own; every call is a hand-off to that thread and
back. SQLAlchemy's adapter makes four per statement (open a cursor, execute, fetch the rows, close), and on
a small machine the hand-offs cost more than the SQL: 36 per inbound Create in the inbox worker's profile
(docs/benchmarks.md, "one trip per statement"). This cursor does all four in one function on that thread,
keeping what SQLAlchemy reads afterwards (``description``, ``rowcount``, ``lastrowid``).

It relies on two names aiosqlite does not document, ``Connection._execute`` (queue a function for the
connection's thread) and ``Connection._conn`` (the ``sqlite3.Connection``; its ``_connection``, read for
``in_transaction``, is the same object), unchanged since aiosqlite 0.17; ``pyproject.toml`` bounds the
version and ``tests/fediserver/test_sqlite_driver.py`` holds them.
"""

from __future__ import annotations

import collections
import sqlite3
from types import ModuleType
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

Outcome = tuple[Any, int, int | None, list[Any]]


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    """On the connection's thread: the statement, its rows and what a DB-API cursor reports of it."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose ``execute`` is one hand-off to the connection's thread."""

    __slots__ = ("_outcome",)

    def _make_new_cursor(self, connection: Any) -> Any:
        return None

    def _aenter_cursor(self, cursor: Any) -> Any:
        self._outcome: Outcome = (None, -1, None, [])
        return cursor

    @property
    def description(self) -> Any:
        return self._outcome[0]

    @property
    def rowcount(self) -> int:
        return self._outcome[1]

    @property
    def lastrowid(self) -> Any:
        return self._outcome[2]

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._trip(operation, seq_of_parameters, many=True)

    async def _trip(self, operation: str, parameters: Any, *, many: bool) -> None:
        connection = self._connection
        async with self._adapt_connection._execute_mutex:
            self._outcome = await connection._execute(_run, connection._conn, operation, parameters, many)
        self._rows = collections.deque(self._outcome[3])

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        raise NotImplementedError("SQLite has one result set per statement")

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor

    @property
    def in_transaction(self) -> bool:
        """Whether SQLite has a transaction open on this connection, read without a trip to its thread
        (``sqlite3_get_autocommit`` reads a flag). Only one task uses a connection at a time, so no trip is
        in flight meanwhile."""
        conn: sqlite3.Connection | None = self._connection._connection
        return conn is not None and conn.in_transaction

    # ``sqlite3.Connection.commit`` and ``rollback`` do nothing outside a transaction; the trip to say so
    # is skipped. SQLAlchemy ends every session and every pooled connection's use with one of them, most
    # often after a commit or after reads only (which open no transaction in the sqlite3 module).
    def commit(self) -> None:
        if self.in_transaction:
            super().commit()

    def rollback(self) -> None:
        if self.in_transaction:
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's ``sqlite+aiosqlite`` dialect is given (``create_engine(module=)``)."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def dbapi() -> OneTripDBAPI:
    import aiosqlite

    module: ModuleType = aiosqlite
    return OneTripDBAPI(module, sqlite3)
