"""Look-up tables kept for the rest of one session's transaction.

The inbox worker runs a batch of activities in one transaction (``jobs.batch``), and they name the same
few rows again and again: the senders, the local users they mention, an author's local followers. A table
from ``cached`` remembers such rows in ``session.info`` so each is read once per transaction. It is
dropped when the transaction (or a savepoint of it) rolls back, when its rows may have been expunged or
expired, and, for each model named in ``depends_on``, whenever the session writes a row of that model:
an ORM flush that adds, changes or deletes one, or an ORM-enabled ``update()``/``delete()`` executed
through the session. Raw ``text()`` statements are not seen; no caller writes cached tables that way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

TABLES = "fediserver.memo"
DEPENDS = "fediserver.memo.depends"


def cached(session: AsyncSession, name: str, depends_on: tuple[type, ...] = ()) -> dict[Any, Any]:
    """The table ``name`` of this transaction (module docstring); empty at first and after it is dropped."""
    info = session.info
    tables: dict[str, dict[Any, Any]] | None = info.get(TABLES)
    if tables is None:
        tables = info[TABLES] = {}
        info.setdefault(DEPENDS, {})
        sync = session.sync_session
        if not event.contains(sync, "after_soft_rollback", _forget_all):
            event.listen(sync, "after_soft_rollback", _forget_all)
            event.listen(sync, "before_flush", _forget_flushed)
            event.listen(sync, "do_orm_execute", _forget_written)
    depends: dict[type, set[str]] = info[DEPENDS]
    for model in depends_on:
        depends.setdefault(model, set()).add(name)
    return tables.setdefault(name, {})


def _forget_all(session: Session, _previous: object) -> None:
    session.info.pop(TABLES, None)


def _forget(session: Session, model: type) -> None:
    tables: dict[str, dict[Any, Any]] | None = session.info.get(TABLES)
    depends: dict[type, set[str]] = session.info.get(DEPENDS, {})
    if tables:
        for name in depends.get(model, ()):
            tables.pop(name, None)


def _forget_flushed(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    depends: dict[type, set[str]] = session.info.get(DEPENDS, {})
    if not depends or not session.info.get(TABLES):
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if type(obj) in depends:
            _forget(session, type(obj))


def _forget_written(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete or state.is_insert) and state.bind_mapper is not None:
        _forget(state.session, state.bind_mapper.class_)
